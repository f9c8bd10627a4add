from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.handlers.wsgi import LimitedStream
from django.utils import timezone

from accounts.models import User
from cooperation.choices import Classification, Role
from cooperation.models import Activity, Desk, Relationship
from tests.factories import ActivityFactory, DeskFactory, RelationshipFactory, UserFactory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the long tests that use no test database (marked `slow`: the restore drill, the
    embedded PostgreSQL) first. pytest-django (its hook runs before this one) puts tests
    without a database after all others; under pytest-xdist (`make test`) one of these left
    for the end keeps one process busy after the others have finished. They read and write
    nothing of the test database, so they need no place among its tests."""

    def first(item: pytest.Item) -> bool:
        fixtures = set(getattr(item, "fixturenames", ()))
        uses_database = item.get_closest_marker("django_db") is not None or bool(
            fixtures & {"db", "transactional_db", "live_server"}
        )
        return item.get_closest_marker("slow") is not None and not uses_database

    items.sort(key=lambda item: not first(item))


@dataclass
class World:
    """Two desks with one relationship each, users of every role, and activities
    of every releasability on both desks (plus a deleted one on desk A)."""

    desk_a: Desk
    desk_b: Desk
    rel_a: Relationship
    rel_b: Relationship
    officer_a: User  # desk A, internal
    officer_b: User  # desk B, restricted
    manager: User  # internal
    api_client: User  # internal
    admin: User
    activities: dict[str, Activity]

    def users(self) -> dict[str, User]:
        return {
            "officer_a": self.officer_a,
            "officer_b": self.officer_b,
            "manager": self.manager,
            "api_client": self.api_client,
            "admin": self.admin,
        }


@pytest.fixture
def world(db: None) -> World:
    rel_a, rel_b = RelationshipFactory(state_a="BY", state_b="US"), RelationshipFactory(state_a="CU", state_b="US")
    desk_a, desk_b = (
        DeskFactory(name="Desk A", relationships=[rel_a]),
        DeskFactory(name="Desk B", relationships=[rel_b]),
    )
    activities = {}
    for rel, desk_name in ((rel_a, "a"), (rel_b, "b")):
        for level in Classification:
            activities[f"{desk_name}_{level.code}"] = ActivityFactory(
                relationship=rel, releasability=level, title=f"{desk_name} {level.code}"
            )
    activities["a_deleted"] = ActivityFactory(
        relationship=rel_a, releasability=Classification.PUBLIC, title="a deleted", deleted_at=timezone.now()
    )
    return World(
        desk_a=desk_a,
        desk_b=desk_b,
        rel_a=rel_a,
        rel_b=rel_b,
        officer_a=UserFactory(username="officer_a", clearance=Classification.INTERNAL, desks=[desk_a]),
        officer_b=UserFactory(username="officer_b", clearance=Classification.RESTRICTED, desks=[desk_b]),
        manager=UserFactory(username="manager", role=Role.MANAGER, clearance=Classification.INTERNAL),
        api_client=UserFactory(username="api", role=Role.API_CLIENT, clearance=Classification.INTERNAL),
        admin=UserFactory(
            username="admin", role=Role.ADMIN, clearance=Classification.PUBLIC, is_staff=True, is_superuser=True
        ),
        activities=activities,
    )


@pytest.fixture
def migrated_data(transactional_db: None) -> None:
    """Put back what the data migrations create (areas, the default weight set).

    Transactional tests start from the database as the previous one left it, which is
    emptied (flushed) after each of them; serialized rollback cannot reload the
    append-only history tables.
    """
    import importlib

    from django.apps import apps
    from django.db import connection

    areas = importlib.import_module("cooperation.migrations.0002_areas_and_accreditation_relationship_key")
    weights = importlib.import_module("cooperation.migrations.0007_default_weight_set")
    areas.create_areas(apps, None)
    with connection.schema_editor() as editor:
        weights.create_default_set(apps, editor)


@pytest.fixture(autouse=True)
def _second_factor_only_where_tested(request: pytest.FixtureRequest, settings: Any) -> None:
    """Admins must use a second factor; tests of other behaviour sign admins in with
    force_login and do not go through it. Tests marked `second_factor` get the real rule."""
    if "second_factor" not in request.keywords:
        settings.OTP_REQUIRED_FOR_ADMINS = False


@pytest.fixture(autouse=True)
def _kept_statements_verified(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every API list that finds its page statement kept compiles it afresh too and fails
    unless the two are identical (cooperation/api/pagination.py); each test starts with
    none kept."""
    from cooperation.api import pagination

    monkeypatch.setattr(pagination, "VERIFY_KEPT_STATEMENTS", True)
    pagination.STATEMENTS.clear()
    yield
    pagination.STATEMENTS.clear()


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How much of each request body the app read."""
    read: list[int] = []
    original = LimitedStream.read

    def counted(stream: LimitedStream, *args: Any) -> bytes:
        data = original(stream, *args)
        read.append(len(data))
        return data

    monkeypatch.setattr(LimitedStream, "read", counted)
    return read


@pytest.fixture
def pin_today(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`pin_today(day)`: the application's `timezone.localdate()` answers `day` (the live
    server too: it runs in this process), so a test that dates its data from "today" and
    reads a page that works "today" out again cannot see two days across midnight."""
    real_localdate = timezone.localdate

    def pin(day: datetime.date) -> datetime.date:
        def localdate(value: datetime.datetime | None = None, timezone: Any = None) -> datetime.date:
            return day if value is None else real_localdate(value, timezone)

        monkeypatch.setattr("django.utils.timezone.localdate", localdate)
        return day

    return pin
