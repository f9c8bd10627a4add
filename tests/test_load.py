"""The load test (bench/load.py, `make load`), short: a few seconds of the same mixed traffic
against a live gunicorn with the production settings and a Celery worker, on the test database.

Needs Redis at LOAD_TEST_REDIS_URL (default redis://127.0.0.1:6379/12, a database it empties);
without it the test fails, it does not skip.
"""

from __future__ import annotations

import datetime
import io
import os

import pytest
from django.core.management import call_command
from django.db import connection

from bench import load, servers
from cooperation import services
from cooperation.choices import Classification
from cooperation.models import Activity
from tests.conftest import World
from tests.factories import area

REDIS_URL = os.environ.get("LOAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
SECONDS = float(os.environ.get("LOAD_TEST_SECONDS", "12"))


@pytest.mark.load
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_mixed_traffic_against_production_gunicorn_answers_no_5xx_and_loses_no_write(migrated_data: None) -> None:
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", synthetic=3000, seed=2016, verbosity=0)
    cast = load.prepare_cast()
    out = io.StringIO()

    result = load.run(
        cast,
        database_url=servers.database_url(connection.settings_dict),
        redis_url=REDIS_URL,
        seconds=SECONDS,
        port=int(os.environ.get("LOAD_TEST_PORT", "0")) or servers.free_port(),
        out=out,
    )

    report = f"{out.getvalue()}\n{load.table(result)}\n{load.summary(result)}"
    print(report)  # shown with -rP
    assert result.failures == [], "\n".join(result.failures) + "\n" + report
    statuses = {status for samples in result.recorder.samples.values() for _, status, _ in samples}
    assert statuses <= {200, 201, 302, 409, 412, 404}, report
    for kind in (
        "officer: create activity",
        "officer: save edit",
        "manager: overview",
        "manager: relationship dashboard",
        "manager: comparison",
        "api: sync page",
        "api: patch",
    ):
        assert result.recorder.samples[kind], f"no {kind!r} request was sent\n{report}"
    assert {"web create", "web edit", "api create", "api patch"} <= {ack.how for ack in result.recorder.acks}, report
    created = {ack.activity_id: ack.title for ack in result.recorder.acks if ack.how.endswith("create")}
    assert dict(Activity.objects.filter(pk__in=created).values_list("pk", "title")).keys() == created.keys()
    # Every written activity alive at the end reached each sync client (a record created and
    # deleted between two of its walks owes it nothing: load.verify_sync checks the tombstones).
    written = {ack.activity_id for ack in result.recorder.acks}
    alive = set(Activity.objects.filter(pk__in=written, deleted_at__isnull=True).values_list("pk", flat=True))
    assert alive, report
    for name, state in result.sync_states.items():
        assert state.walks > 1, f"{name} never resumed a sync\n{report}"
        assert alive <= state.seen.keys(), f"{name} did not see every write\n{report}"


def test_the_check_reports_acknowledged_writes_missing_from_the_database_or_the_history(world: World) -> None:
    activity = services.activity_create(
        actor=world.officer_a,
        relationship=world.rel_a,
        area=area("education"),
        title="English course",
        kind="course",
        start_date=datetime.date(2017, 3, 6),
        releasability=Classification.PUBLIC,
    )
    officer = world.officer_a.pk
    saved = load.Ack(activity.pk, 1, officer, "web create", title="English course")
    assert load.verify_writes([saved]) == []

    never_saved = load.Ack(activity.pk, 2, officer, "web edit", title="English course for cadets")
    problems = load.verify_writes([saved, never_saved])
    assert [problem.split(":")[0] for problem in problems] == ["lost from the history", "lost write"]
    assert "English course for cadets" in problems[0]

    other_author = load.Ack(activity.pk, 1, world.officer_b.pk, "web create", title="English course")
    assert load.verify_writes([other_author])[0].startswith("lost from the history")

    twice = load.verify_writes([saved, load.Ack(activity.pk, 1, officer, "api patch", title="English course")])
    assert twice[0].startswith("lost update: 2 writes acknowledged as one version")
