"""Every workspace page × every role (anonymous, the record's desk officer, another desk's
officer, manager, API client, admin) × a record within and above clearance.

The pages come from the URL conf (namespace `workspace`): a page added without an entry
in PAGES fails `test_every_workspace_page_is_in_the_matrix`. Each case checks the status
and the content: a record that does not exist for a user never shows its title.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from cooperation.choices import AccreditationStatus, Classification
from cooperation.models import Accreditation, Activity
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "officer_a", "officer_b", "manager", "api_client", "admin")
OWN_TITLE = "Matrix own-desk internal activity"
SECRET_TITLE = "Matrix restricted activity"
OWN_NOTE = "Matrix own-desk accreditation note"
SECRET_NOTE = "Matrix restricted accreditation note"


@dataclasses.dataclass
class Records:
    own: Activity  # desk A, internal: officer_a's
    secret: Activity  # desk A, restricted: above officer_a's and the manager's clearance
    deleted: Activity  # desk A, internal, deleted
    accreditation: Accreditation  # desk A, internal
    secret_accreditation: Accreditation  # desk A, restricted


@pytest.fixture
def records(world: World) -> Records:
    post = PostFactory(sending_country="US", host_country="BY", city="Minsk")
    accreditation = AccreditationFactory(
        attache=AttacheFactory(sending_country="US", name="Matrix Visible"),
        post=post,
        releasability=Classification.INTERNAL,
        notes=OWN_NOTE,
    )
    secret_accreditation = AccreditationFactory(
        attache=AttacheFactory(sending_country="US", name="Matrix Hidden"),
        post=post,
        releasability=Classification.RESTRICTED,
        notes=SECRET_NOTE,
        status=AccreditationStatus.REQUESTED,
        agrement_on=None,
        accredited_on=None,
    )
    assert accreditation.relationship == world.rel_a
    return Records(
        own=ActivityFactory(relationship=world.rel_a, title=OWN_TITLE, releasability=Classification.INTERNAL),
        secret=ActivityFactory(relationship=world.rel_a, title=SECRET_TITLE, releasability=Classification.RESTRICTED),
        deleted=world.activities["a_deleted"],
        accreditation=accreditation,
        secret_accreditation=secret_accreditation,
    )


# What each role gets on a page: READ pages are for every workspace user, WRITE pages for
# desk officers and admins. A record outside the user's desk or clearance is a 404.
READ = {"anonymous": 302, "officer_a": 200, "officer_b": 200, "manager": 200, "api_client": 403, "admin": 200}
WRITE = {"anonymous": 302, "officer_a": 200, "officer_b": 200, "manager": 403, "api_client": 403, "admin": 200}
READ_OWN_RECORD = READ | {"officer_b": 404}
WRITE_OWN_RECORD = WRITE | {"officer_b": 404}
READ_SECRET_RECORD = READ | {"officer_a": 404, "officer_b": 404, "manager": 404}
WRITE_SECRET_RECORD = WRITE | {"officer_a": 404, "officer_b": 404}
# Deleted activities exist only for those who could restore them.
READ_DELETED_RECORD = READ | {"officer_b": 404, "manager": 404}


@dataclasses.dataclass(frozen=True)
class Case:
    kwargs: Callable[[Records], dict[str, Any]]
    expected: dict[str, int]
    shows: Callable[[Records], str] | None = None  # text a user with a 200 sees
    hides: Callable[[Records], str] | None = None  # text that must never appear for a refused user
    method: str = "get"


def own(records: Records) -> dict[str, Any]:
    return {"pk": records.own.pk}


def secret(records: Records) -> dict[str, Any]:
    return {"pk": records.secret.pk}


def accreditation(records: Records) -> dict[str, Any]:
    return {"pk": records.accreditation.pk}


def secret_accreditation(records: Records) -> dict[str, Any]:
    return {"pk": records.secret_accreditation.pk}


def no_kwargs(records: Records) -> dict[str, Any]:
    return {}


def own_title(records: Records) -> str:
    return OWN_TITLE


def secret_title(records: Records) -> str:
    return SECRET_TITLE


def own_note(records: Records) -> str:
    return OWN_NOTE


def secret_note(records: Records) -> str:
    return SECRET_NOTE


def record_pages(name: str, read: bool) -> list[Case]:
    own_expected, secret_expected = (
        (READ_OWN_RECORD, READ_SECRET_RECORD) if read else (WRITE_OWN_RECORD, WRITE_SECRET_RECORD)
    )
    return [
        Case(own, own_expected, shows=own_title, hides=own_title),
        Case(secret, secret_expected, shows=secret_title, hides=secret_title),
    ]


def accreditation_pages(read: bool) -> list[Case]:
    own_expected, secret_expected = (
        (READ_OWN_RECORD, READ_SECRET_RECORD) if read else (WRITE_OWN_RECORD, WRITE_SECRET_RECORD)
    )
    return [
        Case(accreditation, own_expected, hides=own_note),
        Case(secret_accreditation, secret_expected, hides=secret_note),
    ]


STEP_PAGES = {
    f"accreditation_{action}": accreditation_pages(read=False)
    for action in ("grant_agrement", "accredit", "end", "refuse", "withdraw")
}

PAGES: dict[str, list[Case]] = {
    # Lists and exports: everyone in the workspace, each seeing only their records.
    "activity_list": [Case(no_kwargs, READ)],
    "activity_export_csv": [Case(no_kwargs, READ, shows=lambda r: "external_ref,state_a,state_b")],
    "activity_export_xlsx": [Case(no_kwargs, READ, shows=lambda r: "external_ref,state_a,state_b")],
    "accreditation_list": [Case(no_kwargs, READ)],
    # Pages without a record that change things.
    "activity_create": [Case(no_kwargs, WRITE)],
    "activity_deleted": [Case(no_kwargs, WRITE)],
    "activity_import": [Case(no_kwargs, WRITE)],
    "activity_import_template_csv": [Case(no_kwargs, WRITE)],
    "activity_import_template_xlsx": [Case(no_kwargs, WRITE)],
    "activity_import_commit": [
        Case(no_kwargs, WRITE | {"officer_a": 302, "officer_b": 302, "admin": 302}, method="post")
    ],
    "accreditation_create": [Case(no_kwargs, WRITE)],
    # One record.
    "activity_detail": [
        *record_pages("activity_detail", read=True),
        Case(lambda r: {"pk": r.deleted.pk}, READ_DELETED_RECORD, hides=lambda r: r.deleted.title),
    ],
    "activity_edit": record_pages("activity_edit", read=False),
    "activity_duplicate": record_pages("activity_duplicate", read=False),
    "activity_cancel": record_pages("activity_cancel", read=False),
    "activity_delete": record_pages("activity_delete", read=False),
    "activity_restore": record_pages("activity_restore", read=False),
    "accreditation_detail": [
        Case(accreditation, READ_OWN_RECORD, shows=own_note, hides=own_note),
        Case(secret_accreditation, READ_SECRET_RECORD, shows=secret_note, hides=secret_note),
    ],
    "accreditation_edit": accreditation_pages(read=False),
    **STEP_PAGES,
    "attache_detail": [
        Case(lambda r: {"pk": r.accreditation.attache_id}, READ_OWN_RECORD, shows=lambda r: "Matrix Visible"),
        Case(
            lambda r: {"pk": r.secret_accreditation.attache_id},
            READ_SECRET_RECORD,
            shows=lambda r: "Matrix Hidden",
            hides=lambda r: "Matrix Hidden",
        ),
    ],
}


def workspace_url_names() -> set[str]:
    _, resolver = get_resolver().namespace_dict["workspace"]
    return {pattern.name for pattern in resolver.url_patterns if getattr(pattern, "name", None)}


def test_every_workspace_page_is_in_the_matrix() -> None:
    assert workspace_url_names() == set(PAGES)


def client_for(world: World, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world.users()[role])
    return client


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def body(response: Any) -> str:
    """The text a user gets: a workbook's cells one row a line (its bytes are compressed,
    so "the title is not in the content" would hold for any workbook)."""
    if getattr(response, "streaming", False):
        data = b"".join(response.streaming_content)
        if response.get("Content-Type") == XLSX:
            sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
            return "\n".join(
                ",".join("" if cell is None else str(cell) for cell in row) for row in sheet.iter_rows(values_only=True)
            )
        return data.decode("utf-8", "replace")
    return response.content.decode()


def matrix(pages: dict[str, list[Any]]) -> list[Any]:
    """One test case per page, per way of calling it, per role."""
    return [
        pytest.param(name, index, role, id=f"{name}-{index}-{role}")
        for name, cases in sorted(pages.items())
        for index in range(len(cases))
        for role in ROLES
    ]


MATRIX = matrix(PAGES)


@pytest.mark.parametrize(("name", "index", "role"), MATRIX)
def test_page_answers_each_role_by_desk_and_clearance(
    world: World, records: Records, name: str, index: int, role: str
) -> None:
    case = PAGES[name][index]
    url = reverse(f"workspace:{name}", kwargs=case.kwargs(records))
    response = getattr(client_for(world, role), case.method)(url)
    expected = case.expected[role]
    assert response.status_code == expected, f"{role} on {url}"
    content = body(response)
    if role == "anonymous":
        assert response["Location"].startswith(f"/accounts/login/?next={url}")
    elif expected == 200 and case.shows is not None:
        assert case.shows(records) in content
    elif expected in (403, 404) and case.hides is not None:
        assert case.hides(records) not in content
    if expected == 403:
        assert "Not allowed" in content
    if expected == 404:
        assert "There is no such page or record" in content
    # Whatever the page, a record above the user's clearance never shows.
    if role in ("officer_a", "officer_b", "manager"):
        assert SECRET_TITLE not in content
        assert SECRET_NOTE not in content
    if role == "officer_b":
        assert OWN_TITLE not in content


WRITE_ACTIONS = ["activity_edit", "activity_cancel", "activity_delete", "activity_restore"]


@pytest.mark.parametrize("name", WRITE_ACTIONS)
@pytest.mark.parametrize("role", ["officer_b", "manager", "api_client", "anonymous"])
def test_refused_posts_change_nothing(world: World, records: Records, name: str, role: str) -> None:
    before = Activity.objects.values("version", "status", "deleted_at", "title").get(pk=records.own.pk)
    url = reverse(f"workspace:{name}", kwargs={"pk": records.own.pk})
    response = client_for(world, role).post(url, {"version": records.own.version, "title": "Hijacked"})
    assert response.status_code == WRITE_OWN_RECORD[role]
    assert Activity.objects.values("version", "status", "deleted_at", "title").get(pk=records.own.pk) == before


@pytest.mark.parametrize("action", ["grant_agrement", "end", "withdraw"])
@pytest.mark.parametrize("role", ["officer_a", "manager", "officer_b"])
def test_refused_lifecycle_steps_change_nothing(world: World, records: Records, action: str, role: str) -> None:
    target = records.secret_accreditation  # restricted: officer_a and the manager may not see it
    url = reverse(f"workspace:accreditation_{action}", kwargs={"pk": target.pk})
    response = client_for(world, role).post(url, {"on": "2016-06-01", "version": target.version})
    assert response.status_code == WRITE_SECRET_RECORD[role]
    target.refresh_from_db()
    assert target.status == AccreditationStatus.REQUESTED and target.version == 1


def test_lists_and_exports_hold_only_visible_records(world: World, records: Records) -> None:
    expectations = {
        "officer_a": ({OWN_TITLE, "a public", "a internal"}, {SECRET_TITLE, "b public", "a deleted"}),
        "officer_b": ({"b public", "b restricted"}, {OWN_TITLE, SECRET_TITLE, "a public"}),
        "manager": ({OWN_TITLE, "a public", "b internal"}, {SECRET_TITLE, "b restricted", "a deleted"}),
        "admin": ({OWN_TITLE, SECRET_TITLE, "b restricted"}, {"a deleted"}),
    }
    for role, (present, absent) in expectations.items():
        client = client_for(world, role)
        for name in ("activity_list", "activity_export_csv", "activity_export_xlsx"):
            content = body(client.get(reverse(f"workspace:{name}"), {"per_page": 100}))
            for title in present:
                assert title in content, (role, name, title)
            for title in absent:
                assert title not in content, (role, name, title)
