"""The shared ActivityFilterSet: every field is filterable, choices are scoped to the user."""

from __future__ import annotations

import datetime
from datetime import UTC
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from cooperation import filtersets
from cooperation.choices import Classification
from cooperation.filtersets import ActivityFilterSet
from cooperation.models import Activity, CooperationArea
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory, area

pytestmark = pytest.mark.django_db

# Model fields covered by a filter of another name, or deliberately not filterable.
COVERED_ELSEWHERE = {
    "title": "q",
    "location": "q",
    "counterpart": "q",
    "description": "q",
    "outcome": "q",
    "updated_at": "updated_since",
    "search_vector": "q",
    "version": None,  # a concurrency token, not a property of the activity
    "idempotency_key": None,  # the one-time key of the form or request that created it
    "deleted_at": None,  # deleted records are never listed (the API's sync reports them)
    "deleted_by": None,
}


def filtered(user: Any, **params: object) -> set[str]:
    request = RequestFactory().get("/")
    request.user = user
    queryset = Activity.objects.visible_to(user)  # type: ignore[arg-type]
    filterset = ActivityFilterSet(params, queryset=queryset, request=request)
    assert filterset.is_valid(), filterset.errors
    return set(filterset.qs.values_list("title", flat=True))


def errors(user: Any, **params: object) -> dict[str, list[str]]:
    request = RequestFactory().get("/")
    request.user = user
    filterset = ActivityFilterSet(params, queryset=Activity.objects.all(), request=request)
    assert not filterset.is_valid()
    return {name: list(messages) for name, messages in filterset.errors.items()}


def test_every_model_field_has_a_filter() -> None:
    filters = set(ActivityFilterSet.base_filters)
    for field in Activity._meta.concrete_fields:
        if field.name in COVERED_ELSEWHERE:
            covering = COVERED_ELSEWHERE[field.name]
            assert covering is None or covering in filters, field.name
        else:
            assert field.name in filters, f"Activity.{field.name} has no filter in ActivityFilterSet"


def test_area_codes_are_checked_in_one_query_and_each_unknown_one_is_named(
    world: World, django_assert_num_queries: Any
) -> None:
    request = RequestFactory().get("/")
    request.user = world.admin
    filterset = ActivityFilterSet({"area": ["demining", "education", "demining"]}, queryset=Activity.objects.all())
    with django_assert_num_queries(1):
        assert filterset.is_valid()
    assert filterset.form.cleaned_data["area"] == [area("demining").pk, area("education").pk]
    assert errors(world.admin, area=["education", "nowhere"]) == {
        "area": ["Select a valid choice. nowhere is not one of the available choices."]
    }
    assert errors(world.admin, area=["bad\x00code"]) == {"area": ["Null characters are not allowed."]}


def test_area_codes_are_read_afresh_and_a_narrowed_queryset_is_honoured(world: World) -> None:
    """Whole-table lookups run one prepared statement (cooperation/filtersets.py
    `_lookup_sql`), which reads the table as it is now; a narrower queryset keeps the ORM's query."""

    def check(field: filtersets.CodeMultipleChoiceField, codes: list[str]) -> Any:
        try:
            return field.clean(codes)
        except ValidationError as error:
            return error.messages

    whole = filtersets.CodeMultipleChoiceField(queryset=CooperationArea.objects.all(), to_field_name="code")
    assert check(whole, ["education", "demining"]) == [area("education").pk, area("demining").pk]
    cyber = CooperationArea.objects.create(code="cyber", name="Cyber defence", position=9)
    assert check(whole, ["cyber"]) == [cyber.pk]
    CooperationArea.objects.filter(pk=cyber.pk).update(code="cyber-defence")
    assert check(whole, ["cyber"]) == ["Select a valid choice. cyber is not one of the available choices."]
    assert check(whole, ["cyber-defence", "education"]) == [cyber.pk, area("education").pk]
    narrowed = filtersets.CodeMultipleChoiceField(
        queryset=CooperationArea.objects.exclude(code="demining"), to_field_name="code"
    )
    assert check(narrowed, ["education"]) == [area("education").pk]
    assert check(narrowed, ["demining"]) == ["Select a valid choice. demining is not one of the available choices."]


def test_filters_by_area_status_kind_level_and_releasability(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, title="demining talk", area=area("demining"), status="planned")
    assert filtered(world.admin, area=["demining"]) == {"demining talk"}
    assert filtered(world.admin, status=["planned"]) == {"demining talk"}
    assert filtered(world.admin, area=["demining", "education"], status=["planned", "conducted"]) >= {
        "demining talk",
        "a public",
    }
    assert filtered(world.admin, releasability=["restricted"]) == {"a restricted", "b restricted"}
    assert filtered(world.admin, kind=["visit"]) == set()
    assert filtered(world.admin, level=["working"]) >= {"a public", "b public"}


def test_country_matches_either_side_of_the_relationship(world: World) -> None:
    assert filtered(world.manager, country="CU") == {"b public", "b internal"}
    assert filtered(world.manager, country="US") == {"a public", "a internal", "b public", "b internal"}


def test_relationship_outside_my_desks_is_not_a_valid_choice(world: World) -> None:
    assert filtered(world.officer_a, relationship=[world.rel_a.pk]) == {"a public", "a internal"}
    messages = errors(world.officer_a, relationship=[world.rel_b.pk])["relationship"]
    assert "is not one of the available choices" in messages[0]
    # The same answer as for a relationship that does not exist.
    assert errors(world.officer_a, relationship=[999999])["relationship"][0].replace("999999", "X") == messages[
        0
    ].replace(str(world.rel_b.pk), "X")


def test_date_ranges_and_participants(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, title="june", start_date=datetime.date(2016, 6, 29), participants=150)
    assert filtered(world.admin, start_date_after="2016-06-01", start_date_before="2016-06-30") == {"june"}
    assert filtered(world.admin, participants_min=100) == {"june"}
    assert "start_date" in errors(world.admin, start_date_after="2016-13-45")


def test_text_search_matches_words_and_prefixes(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, title="English course for cadets", location="Minsk")
    ActivityFactory(relationship=world.rel_a, title="Demining seminar", counterpart="Engineer Troops")
    assert filtered(world.admin, q="english cad") == {"English course for cadets"}
    assert filtered(world.admin, q="minsk") == {"English course for cadets"}
    assert filtered(world.admin, q="engineer") == {"Demining seminar"}
    assert filtered(world.admin, q="course seminar") == set()
    assert filtered(world.admin, q="!!! &|:*") == filtered(world.admin)  # nothing searchable: no filter


def sql_of(user: Any, **params: object) -> str:
    request = RequestFactory().get("/")
    request.user = user
    filterset = ActivityFilterSet(params, queryset=Activity.objects.visible_to(user), request=request)  # type: ignore[arg-type]
    assert filterset.is_valid(), filterset.errors
    return str(filterset.qs.query)


@pytest.mark.parametrize("few", [1, 2, 3, 1000])
def test_text_search_answers_the_same_whether_it_starts_from_the_matches_or_not(
    world: World, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    """Below FEW_SEARCH_MATCHES matches the condition is written `id = ANY(ARRAY(…))` so that
    PostgreSQL starts from them; the rows are the same either way, still scoped to the user."""
    for title, rel, level in (
        ("Peacekeeping course A", world.rel_a, "public"),
        ("Peacekeeping course B", world.rel_a, "restricted"),
        ("Peacekeeping course C", world.rel_b, "public"),
    ):
        ActivityFactory(relationship=rel, title=title, releasability=Classification.from_code(level))
    ActivityFactory(
        relationship=world.rel_a, title="Peacekeeping course D", deleted_at=datetime.datetime(2020, 1, 1, tzinfo=UTC)
    )
    monkeypatch.setattr(filtersets, "FEW_SEARCH_MATCHES", few)
    # Four activities match "peacekeep" (one deleted): fewer than `few` only when few = 1000.
    starts_from_matches = few > 4
    sql = sql_of(world.officer_a, q="peacekeep")
    assert ("= ANY(ARRAY(SELECT" in sql) is starts_from_matches
    assert filtered(world.officer_a, q="peacekeep") == {"Peacekeeping course A"}  # desk A, internal clearance
    assert filtered(world.officer_b, q="course peacekeep") == {"Peacekeeping course C"}
    assert filtered(world.admin, q="peacekeep", relationship=[world.rel_a.pk]) == {
        "Peacekeeping course A",
        "Peacekeeping course B",
    }
    assert filtered(world.admin, q="nothing peacekeep") == set()


def test_accreditation_and_attache(world: World) -> None:
    attache = AttacheFactory(sending_country="US")
    accreditation = AccreditationFactory(
        attache=attache, post=PostFactory(sending_country="US", host_country="BY", city="Minsk")
    )
    ActivityFactory(relationship=world.rel_a, accreditation=accreditation, title="via channel")
    assert filtered(world.admin, accreditation=accreditation.pk) == {"via channel"}
    assert filtered(world.admin, attache=attache.pk) == {"via channel"}


def test_updated_since_and_ids(world: World) -> None:
    moment = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    Activity.objects.filter(pk=world.activities["a_public"].pk).update(updated_at=moment)
    assert filtered(world.admin, updated_since="2029-12-31T23:59:59Z") == {"a public"}
    ids = f"{world.activities['a_public'].pk},{world.activities['b_public'].pk}"
    assert filtered(world.admin, id=ids) == {"a public", "b public"}
    assert "id" in errors(world.admin, id="1,abc")


def test_moments_are_normalised_to_utc_and_impossible_ones_refused(world: World) -> None:
    # An offset PostgreSQL would reject (beyond ±15:59) is converted to UTC first.
    assert filtered(world.admin, created_at_after="1186-10-02T10:24:52-17:49") == filtered(world.admin)
    assert errors(world.admin, updated_since="0001-01-01T00:10:00+05:00") == {
        "updated_since": ["This date and time is out of range."]
    }
