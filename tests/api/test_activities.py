"""Activities through the API: shape, writes through the services, versions, filters, pages, CSV."""

from __future__ import annotations

import csv
import datetime
import io
import uuid

import pytest
from rest_framework.test import APIClient

from cooperation.api.base import narrowed_filterset
from cooperation.choices import Classification
from cooperation.filtersets import ActivityFilterSet
from cooperation.models import Activity
from tests.api.conftest import activity_body, client_for
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, PostFactory, area

pytestmark = pytest.mark.django_db

LIST = "/api/v1/activities/"


def detail(activity: Activity) -> str:
    return f"{LIST}{activity.pk}/"


def new_activity(world: World, **overrides: object) -> dict[str, object]:
    return activity_body(**{"relationship": world.rel_a.pk, **overrides})


def test_detail_has_every_documented_field(world: World, clients: dict[str, APIClient]) -> None:
    activity = world.activities["a_internal"]
    response = clients["officer_a"].get(detail(activity))
    assert response.status_code == 200
    data = response.json()
    assert list(data) == [
        "id", "relationship", "relationship_label", "area", "title", "kind", "level", "status", "start_date",
        "end_date", "participants", "location", "counterpart", "accreditation", "description", "outcome",
        "releasability", "version", "created_at", "updated_at",
    ]  # fmt: skip
    assert data["relationship_label"] == "Belarus – United States"
    assert data["area"] == "education" and data["releasability"] == "internal" and data["accreditation"] is None
    assert response["ETag"] == f'"{activity.pk}-1"'


def test_create_goes_through_the_service_and_answers_201(world: World, clients: dict[str, APIClient]) -> None:
    response = clients["officer_a"].post(LIST, new_activity(world, version=99, id=5, created_at="2001-01-01T00:00Z"))
    assert response.status_code == 201, response.json()
    data = response.json()
    activity = Activity.objects.get(pk=data["id"])
    assert activity.created_by == world.officer_a and activity.version == 1 and data["version"] == 1
    assert data["title"] == "Mine clearance course" and data["area"] == "demining"
    assert data["created_at"] != "2001-01-01T00:00:00Z"  # read-only fields are never written
    assert response["Location"].endswith(f"/api/v1/activities/{activity.pk}/")
    assert response["ETag"] == f'"{activity.pk}-1"'


def test_a_create_retried_with_its_idempotency_key_answers_with_the_first_activity(
    world: World, clients: dict[str, APIClient]
) -> None:
    key = str(uuid.uuid4())
    first = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Location"] == first["Location"]
    created = Activity.objects.get(title="Mine clearance course")
    assert str(created.idempotency_key) == key and created.created_by == world.officer_a
    events = Activity.pgh_event_model.objects.filter(pgh_obj_id=created.pk)  # type: ignore[attr-defined]
    assert [event.pgh_label for event in events] == ["insert"]
    fresh = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert fresh.status_code == 201 and fresh.json()["id"] != created.pk
    unguarded = clients["officer_a"].post(LIST, new_activity(world), format="json")
    assert unguarded.status_code == 201
    assert Activity.objects.filter(title="Mine clearance course").count() == 3


def test_an_idempotency_key_with_another_body_or_a_deleted_activity_is_422(
    world: World, clients: dict[str, APIClient]
) -> None:
    key = str(uuid.uuid4())
    first = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY=key).json()
    changed = clients["officer_a"].post(
        LIST, new_activity(world, participants=14, area="medicine"), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert changed.status_code == 422
    body = changed.json()
    assert body["id"] == first["id"] and body["changed_fields"] == ["area", "participants"]
    assert "Nothing was written" in body["detail"]
    assert Activity.objects.filter(title="Mine clearance course").count() == 1
    clients["officer_a"].delete(detail(Activity.objects.get(pk=first["id"])), HTTP_IF_MATCH=f'"{first["id"]}-1"')
    retried = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert retried.status_code == 422 and retried.json()["changed_fields"] == []
    assert "deleted since" in retried.json()["detail"]
    assert Activity.objects.filter(title="Mine clearance course").count() == 1


def test_an_idempotency_key_of_a_deleted_activity_neither_restores_nor_recreates_it(
    world: World, clients: dict[str, APIClient]
) -> None:
    """The same case as the form's: a replay after the delete answers 422 naming the
    activity (the caller created it and may restore it), whatever the body."""
    key = str(uuid.uuid4())
    first = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY=key).json()
    clients["officer_a"].delete(f"{LIST}{first['id']}/", HTTP_IF_MATCH=f'"{first["id"]}-1"')
    for body, changed in ((new_activity(world), []), (new_activity(world, participants=14), ["participants"])):
        retried = clients["officer_a"].post(LIST, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert retried.status_code == 422
        assert (retried.json()["id"], retried.json()["changed_fields"]) == (first["id"], changed)
    assert list(Activity.objects.filter(title="Mine clearance course").values_list("pk", "version")) == [
        (first["id"], 2)
    ]
    assert Activity.objects.get(pk=first["id"]).is_deleted


def test_another_users_idempotency_key_creates_their_own_activity(world: World, clients: dict[str, APIClient]) -> None:
    key = str(uuid.uuid4())
    mine = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY=key).json()
    theirs = clients["officer_b"].post(
        LIST, new_activity(world, relationship=world.rel_b.pk, participants=3), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"] and theirs.json()["relationship_label"] == "Cuba – United States"
    # Not a 422 naming the first activity: someone else's key is no key of theirs.
    assert theirs.json()["participants"] == 3 and Activity.objects.get(pk=mine["id"]).participants == 12


def test_an_idempotency_key_that_is_not_a_uuid_is_400(world: World, clients: dict[str, APIClient]) -> None:
    response = clients["officer_a"].post(LIST, new_activity(world), format="json", HTTP_IDEMPOTENCY_KEY="twice")
    assert response.status_code == 400
    assert list(response.json()) == ["Idempotency-Key"]
    assert not Activity.objects.filter(title="Mine clearance course").exists()


def test_invalid_create_reports_each_field_and_writes_nothing(world: World, clients: dict[str, APIClient]) -> None:
    before = Activity.objects.count()
    response = clients["officer_a"].post(
        LIST, new_activity(world, kind="party", start_date="2017-13-01", area="nowhere", title="")
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"kind", "start_date", "area", "title"}
    assert all(isinstance(messages, list) and messages for messages in errors.values())
    assert Activity.objects.count() == before


def test_dates_outside_the_calendar_are_field_errors(world: World, clients: dict[str, APIClient]) -> None:
    before = Activity.objects.count()
    response = clients["officer_a"].post(LIST, new_activity(world, start_date="0017-04-03", end_date="9999-12-31"))
    assert response.status_code == 400
    assert response.json() == {
        "start_date": ["Choose a date between 1900-01-01 and 2199-12-31."],
        "end_date": ["Choose a date between 1900-01-01 and 2199-12-31."],
    }
    assert Activity.objects.count() == before


def test_domain_rules_from_the_service_come_back_as_400(world: World, clients: dict[str, APIClient]) -> None:
    response = clients["officer_a"].post(LIST, new_activity(world, end_date="2017-04-01", participants=-3))
    assert response.status_code == 400
    assert "The end date cannot be before the start date." in response.json()["non_field_errors"]
    other = AccreditationFactory(post=PostFactory(sending_country="US", host_country="UA"))
    response = clients["admin"].post(LIST, new_activity(world, accreditation=other.pk))
    assert response.status_code == 400 and "accreditation" in response.json()


def test_desk_officer_cannot_write_another_desk_or_above_clearance(world: World, clients: dict[str, APIClient]) -> None:
    response = clients["officer_a"].post(LIST, new_activity(world, relationship=world.rel_b.pk))
    assert response.status_code == 400
    assert "does not exist" in response.json()["relationship"][0]  # invisible = nonexistent
    response = clients["officer_a"].post(LIST, new_activity(world, releasability="restricted"))
    assert response.status_code == 403
    assert "above your clearance" in response.json()["detail"]


def test_patch_needs_if_match_and_bumps_the_version(world: World, clients: dict[str, APIClient]) -> None:
    activity = world.activities["a_public"]
    client = clients["officer_a"]
    missing = client.patch(detail(activity), {"title": "Renamed"})
    assert missing.status_code == 428 and "If-Match" in missing.json()["detail"]
    etag = client.get(detail(activity))["ETag"]
    ok = client.patch(detail(activity), {"title": "Renamed"}, HTTP_IF_MATCH=etag)
    assert ok.status_code == 200 and ok.json()["title"] == "Renamed" and ok.json()["version"] == 2
    assert ok["ETag"] == f'"{activity.pk}-2"'
    stale = client.patch(detail(activity), {"status": "cancelled"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    body = stale.json()
    assert body["current_version"] == 2 and body["changed_fields"] == ["title"]
    assert stale["ETag"] == f'"{activity.pk}-2"'
    assert Activity.objects.get(pk=activity.pk).status == "conducted"


def test_version_in_the_body_works_like_if_match(world: World, clients: dict[str, APIClient]) -> None:
    activity = world.activities["a_public"]
    client = clients["officer_a"]
    assert client.patch(detail(activity), {"title": "x", "version": 7}).status_code == 412
    assert client.patch(detail(activity), {"title": "x", "version": "seven"}).json() == {
        "version": ["A valid integer is required."]
    }
    response = client.patch(detail(activity), {"title": "Body version", "version": 1})
    assert response.status_code == 200 and response.json()["version"] == 2


def test_if_match_for_another_record_or_star_does_not_pass(world: World, clients: dict[str, APIClient]) -> None:
    activity, other = world.activities["a_public"], world.activities["a_internal"]
    client = clients["officer_a"]
    assert client.patch(detail(activity), {"title": "x"}, HTTP_IF_MATCH=f'"{other.pk}-1"').status_code == 412
    assert client.patch(detail(activity), {"title": "x"}, HTTP_IF_MATCH="*").status_code == 428
    assert client.patch(detail(activity), {"title": "x"}, HTTP_IF_MATCH="garbage").status_code == 412
    assert Activity.objects.get(pk=activity.pk).title == "a public"


def test_put_replaces_and_ignores_read_only_fields(world: World, clients: dict[str, APIClient]) -> None:
    activity = world.activities["a_public"]
    body = new_activity(world, title="Replaced", releasability="public", id=999, version=50)
    response = clients["officer_a"].put(detail(activity), body, HTTP_IF_MATCH=f'"{activity.pk}-1"')
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == activity.pk and response.json()["version"] == 2
    assert Activity.objects.get(pk=activity.pk).title == "Replaced"


def test_delete_is_soft_and_needs_the_version(world: World, clients: dict[str, APIClient]) -> None:
    activity = world.activities["a_public"]
    client = clients["officer_a"]
    assert client.delete(detail(activity)).status_code == 428
    assert client.delete(detail(activity), HTTP_IF_MATCH=f'"{activity.pk}-9"').status_code == 412
    response = client.delete(detail(activity), HTTP_IF_MATCH=f'"{activity.pk}-1"')
    assert response.status_code == 204
    stored = Activity.objects.get(pk=activity.pk)
    assert stored.is_deleted and stored.deleted_by == world.officer_a
    assert client.get(detail(activity)).status_code == 404


def test_conditional_get_answers_304(world: World, clients: dict[str, APIClient]) -> None:
    client = clients["manager"]
    activity = world.activities["a_public"]
    first = client.get(detail(activity))
    again = client.get(detail(activity), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again["ETag"] == first["ETag"] and not again.content
    star = client.get(detail(activity), HTTP_IF_NONE_MATCH="*")  # any current representation
    assert star.status_code == 304 and star["ETag"] == first["ETag"] and not star.content
    other = client.get(detail(activity), HTTP_IF_NONE_MATCH=f'"{activity.pk}-9", W/"abc"')
    assert other.status_code == 200 and other.json()["id"] == activity.pk
    both = client.get(detail(activity), HTTP_IF_NONE_MATCH=f'"{activity.pk}-9", {first["ETag"]}')
    assert both.status_code == 304
    listing = client.get(LIST)
    assert listing["ETag"].startswith('W/"')
    assert client.get(LIST, HTTP_IF_NONE_MATCH=listing["ETag"]).status_code == 304
    ActivityFactory(relationship=world.rel_a, releasability=Classification.PUBLIC, start_date=datetime.date(2030, 1, 1))
    assert client.get(LIST, HTTP_IF_NONE_MATCH=listing["ETag"]).status_code == 200


def test_filters_from_the_issue(world: World, clients: dict[str, APIClient]) -> None:
    attache_accreditation = AccreditationFactory(post=PostFactory(sending_country="US", host_country="BY"))
    ActivityFactory(
        relationship=world.rel_a,
        area=area("demining"),
        title="Demining talk in Minsk",
        status="planned",
        kind="seminar",
        level="senior",
        start_date=datetime.date(2016, 6, 29),
        releasability=Classification.PUBLIC,
        accreditation=attache_accreditation,
    )
    client = clients["manager"]

    def titles(**params: object) -> set[str]:
        response = client.get(LIST, params)
        assert response.status_code == 200, response.json()
        return {row["title"] for row in response.json()["results"]}

    expected = {"Demining talk in Minsk"}
    assert titles(area=["demining", "medicine"]) == expected
    assert titles(status="planned", kind="seminar", level="senior") == expected
    assert titles(country="BY") == expected | {"a public", "a internal"}
    assert titles(country="CU") == {"b public", "b internal"}
    assert titles(relationship=world.rel_b.pk) == {"b public", "b internal"}
    assert titles(start_date_after="2016-06-01", start_date_before="2016-06-30") == expected
    assert titles(q="minsk demin") == expected
    assert titles(accreditation=attache_accreditation.pk) == expected
    assert titles(attache=attache_accreditation.attache_id) == expected
    bad = client.get(LIST, {"area": "nowhere", "country": "XX", "start_date_after": "soon"})
    assert bad.status_code == 400 and set(bad.json()) == {"area", "country", "start_date"}
    # One unknown code among known ones is refused too, and named.
    bad = client.get(LIST, {"area": ["demining", "nowhere"]})
    assert bad.status_code == 400
    assert bad.json() == {"area": ["Select a valid choice. nowhere is not one of the available choices."]}


def test_ordering_and_keyset_pages(world: World, clients: dict[str, APIClient]) -> None:
    for day in range(1, 13):
        ActivityFactory(
            relationship=world.rel_a, releasability=Classification.PUBLIC, start_date=datetime.date(2018, 1, day)
        )
    client = clients["officer_a"]
    seen: list[int] = []
    url: str | None = f"{LIST}?page_size=5&ordering=start_date"
    pages = 0
    while url:
        body = client.get(url).json()
        assert set(body) == {"next", "previous", "results"}
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        pages += 1
    visible = Activity.objects.visible_to(world.officer_a).order_by("start_date", "id")
    assert seen == list(visible.values_list("id", flat=True)) and pages == 3
    last = client.get(f"{LIST}?page_size=5&ordering=-start_date").json()
    second = client.get(last["next"]).json()
    back = client.get(second["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in last["results"]]
    updated = client.get(f"{LIST}?ordering=-updated_at").json()["results"]
    stamps = [row["updated_at"] for row in updated]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"page_size": 501}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"ordering": "title"}, "ordering"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "eyJvIjoic3RhcnRfZGF0ZSIsInYiOlsiMjAxNy0wMy0wMSIsIngiXX0"}, "cursor"),
        ({"updated_since": "yesterday"}, "updated_since"),
    ],
)
def test_bad_paging_parameters_are_400(world: World, clients: dict[str, APIClient], params: dict, field: str) -> None:
    response = clients["manager"].get(LIST, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_page_size_up_to_500(world: World, clients: dict[str, APIClient]) -> None:
    """More than 500 rows exist, so a page of 500 is really 500 (not a smaller cap) and the next page holds the rest."""
    Activity.objects.bulk_create(
        Activity(
            relationship=world.rel_a,
            area=area(),
            title=f"bulk {n}",
            kind="course",
            start_date=datetime.date(2019, 1, 1),
            releasability=Classification.PUBLIC,
        )
        for n in range(500)
    )
    response = clients["admin"].get(LIST, {"page_size": 500})
    assert response.status_code == 200
    first = response.json()
    assert len(first["results"]) == 500 and first["next"]
    rest = clients["admin"].get(first["next"]).json()
    assert len(rest["results"]) == 6 and rest["next"] is None
    ids = [row["id"] for row in first["results"] + rest["results"]]
    visible = set(Activity.objects.visible_to(world.admin).values_list("id", flat=True))
    assert len(set(ids)) == 506 and set(ids) == visible


def test_csv_streams_every_row_with_filters_and_no_formula(world: World, clients: dict[str, APIClient]) -> None:
    ActivityFactory(
        relationship=world.rel_a,
        title='=HYPERLINK("http://x")',
        releasability=Classification.PUBLIC,
        description='He said "hi",\nthen left',
    )
    response = clients["officer_a"].get(LIST, {"format": "csv", "country": "BY"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    titles = {row["title"] for row in rows}
    assert titles == {"a public", "a internal", '\'=HYPERLINK("http://x")'}
    row = next(row for row in rows if row["title"].startswith("'="))
    assert row["description"] == 'He said "hi",\nthen left'
    assert row["relationship_label"] == "Belarus – United States" and row["releasability"] == "public"
    assert row["area"] == "education" and row["start_date"] == "2017-03-01" and row["accreditation"] == ""


def test_csv_errors_are_json(world: World, clients: dict[str, APIClient]) -> None:
    response = clients["manager"].get(LIST, {"format": "csv", "country": "XX"})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert "country" in response.json()


@pytest.mark.parametrize("size", [5, 50])
def test_list_and_detail_queries_do_not_grow_with_the_page(
    world: World, django_assert_max_num_queries: object, size: int
) -> None:
    for _ in range(60):
        ActivityFactory(relationship=world.rel_a, releasability=Classification.PUBLIC)
    client = client_for(world.officer_a)
    with django_assert_max_num_queries(3):  # type: ignore[operator]
        assert len(client.get(LIST, {"page_size": size}).json()["results"]) == size
    with django_assert_max_num_queries(3):  # type: ignore[operator]
        assert client.get(detail(world.activities["a_public"])).status_code == 200


def test_filter_forms_are_built_once_unless_their_choices_depend_on_the_user(
    world: World, clients: dict[str, APIClient]
) -> None:
    """A FilterSet's form class is reused across requests only when no field's choices are
    the requesting user's (relationships, accreditations): those are built per request."""
    static = narrowed_filterset(ActivityFilterSet, frozenset({"area", "status"}))
    forms = {static(data={"area": "demining"}).get_form_class() for _ in range(2)}
    assert len(forms) == 1 and "area" in next(iter(forms)).base_fields
    scoped = narrowed_filterset(ActivityFilterSet, frozenset({"relationship"}))
    assert scoped(data={}).get_form_class() is not scoped(data={}).get_form_class()

    # The relationship choices follow each request's user, in any order of requests.
    for role, allowed in [("officer_a", True), ("officer_b", False), ("officer_a", True), ("manager", True)]:
        response = clients[role].get(LIST, {"relationship": world.rel_a.pk})
        if allowed:
            assert response.status_code == 200, (role, response.json())
            assert {row["relationship"] for row in response.json()["results"]} == {world.rel_a.pk}
        else:
            assert response.status_code == 400, role
            assert set(response.json()) == {"relationship"}
