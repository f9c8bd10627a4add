"""activity_bulk_import: every row checked, all or nothing, the external reference as natural key."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pghistory.models import Events

from cooperation import services
from cooperation.bulk import ImportRow, RowError, activity_bulk_import
from cooperation.choices import ActivityKind, Classification
from cooperation.intensity import fresh_aggregation, rebuild_rollups, stored_rollups
from cooperation.models import Activity, ActivityScopeChange, IntensityRollup, WeightSet
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory, area
from tests.factories import import_row as row

pytestmark = pytest.mark.django_db


def test_creates_rows_with_who_version_and_history(world: World) -> None:
    result = activity_bulk_import(actor=world.officer_a, rows=[row(2), row(3, state_a="us", state_b="blr")])
    assert result.ok and result.committed
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    created = Activity.objects.get(external_ref="ext-3")
    assert created.relationship == world.rel_a  # either order, alpha-3 accepted
    assert (created.version, created.created_by, created.updated_by) == (1, world.officer_a, world.officer_a)
    assert created.participants == 12 and created.releasability == Classification.INTERNAL
    event = Events.objects.tracks(created).get()
    assert event.pgh_context["user"] == world.officer_a.pk and event.pgh_context["action"] == "activity.import"
    assert result.rollup_keys == {(world.rel_a.pk, datetime.date(2017, 3, 1))}


def test_importing_the_same_rows_twice_creates_nothing_new(world: World) -> None:
    rows = [row(n) for n in range(2, 12)]
    activity_bulk_import(actor=world.officer_a, rows=rows)
    again = activity_bulk_import(actor=world.officer_a, rows=rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10) and again.committed
    assert Activity.objects.filter(external_ref__startswith="ext-").count() == 10
    assert set(Activity.objects.filter(external_ref__startswith="ext-").values_list("version", flat=True)) == {1}
    assert again.rollup_keys == frozenset()


def test_changed_rows_update_their_record_and_bump_the_version(world: World) -> None:
    activity_bulk_import(actor=world.officer_a, rows=[row(2), row(3)])
    result = activity_bulk_import(
        actor=world.admin, rows=[row(2, title="Renamed", start_date="2018-05-02", state_b="CU", state_a="US"), row(3)]
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    changed = Activity.objects.get(external_ref="ext-2")
    assert (changed.title, changed.version, changed.updated_by) == ("Renamed", 2, world.admin)
    assert changed.relationship == world.rel_b
    # The sync's scope transitions: the move to another relationship is one; a new title is none.
    scopes = ActivityScopeChange.objects.filter(activity__external_ref__in=["ext-2", "ext-3"]).order_by("id")
    assert [(scope.activity_id, scope.relationship_id) for scope in scopes] == [
        (changed.pk, world.rel_a.pk),
        (Activity.objects.get(external_ref="ext-3").pk, world.rel_a.pk),
        (changed.pk, world.rel_b.pk),
    ]
    # Both the old and the new (relationship, month) need their rollups refreshed.
    assert result.rollup_keys == {
        (world.rel_a.pk, datetime.date(2017, 3, 1)),
        (world.rel_b.pk, datetime.date(2018, 5, 1)),
    }


def test_columns_missing_from_the_file_keep_their_values_on_update(world: World) -> None:
    activity_bulk_import(actor=world.officer_a, rows=[row(2, location="Brest", participants="40")])
    narrow = ImportRow(
        2,
        {
            "external_ref": "ext-2",
            "state_a": "BY",
            "state_b": "US",
            "area": "education",
            "title": "Only the title changes",
            "kind": "course",
            "start_date": "2017-03-01",
        },
    )
    result = activity_bulk_import(actor=world.officer_a, rows=[narrow])
    assert result.updated == 1
    activity = Activity.objects.get(external_ref="ext-2")
    assert (activity.title, activity.location, activity.participants) == ("Only the title changes", "Brest", 40)


def test_every_bad_row_is_reported_and_nothing_is_written(world: World) -> None:
    rows = [
        row(2),
        row(3, title=""),
        row(4, kind="parade"),
        row(5, start_date="29/06/2016"),
        row(6, end_date="2017-01-01"),
        row(7, participants="-1"),
        row(8, state_a="XX"),
        row(9, state_a="FR", state_b="DE"),
        row(10, area="astronomy"),
        row(11, releasability="secret"),
        row(12, external_ref=""),
        row(13, external_ref="ext-2"),
        row(14, participants="3.5"),
        row(15, title="x" * 301),
        row(16, location="Minsk\x00"),
        row(17, state_a="US", state_b="US"),
        row(18, level="Senior"),  # a label is accepted
        row(19, start_date="0016-06-29"),
        row(20, end_date="9999-12-31"),
    ]
    result = activity_bulk_import(actor=world.admin, rows=rows)
    assert not result.committed and not Activity.objects.filter(external_ref__startswith="ext-").exists()
    assert [(error.row, error.column) for error in result.errors] == [
        (3, "title"),
        (4, "kind"),
        (5, "start_date"),
        (6, "end_date"),
        (7, "participants"),
        (8, "state_a"),
        (9, "state_a"),
        (10, "area"),
        (11, "releasability"),
        (12, "external_ref"),
        (13, "external_ref"),
        (14, "participants"),
        (15, "title"),
        (16, "location"),
        (17, "state_b"),
        (19, "start_date"),
        (20, "end_date"),
    ]
    messages = {error.row: error.message for error in result.errors}
    assert messages[4].startswith("'parade' is not one of: course, training")
    assert messages[5] == "'29/06/2016' is not a date; write it as YYYY-MM-DD, e.g. 2016-06-29."
    assert messages[9] == "No relationship between Germany and France is registered."
    assert messages[13] == "'ext-2' appears again: it was already on row 2."
    assert messages[15] == "At most 300 characters (this has 301)."
    assert messages[19] == messages[20] == "Choose a date between 1900-01-01 and 2199-12-31."


def test_ten_thousand_rows_with_one_bad_row_write_nothing(world: World) -> None:
    rows = [row(n) for n in range(2, 10_002)]
    rows[5000] = row(5002, start_date="not a date")
    result = activity_bulk_import(actor=world.officer_a, rows=rows)
    assert result.rows == 10_000 and result.errors == [
        RowError(5002, "start_date", "'not a date' is not a date; write it as YYYY-MM-DD, e.g. 2016-06-29.")
    ]
    assert not Activity.objects.filter(external_ref__startswith="ext-").exists()


def test_desk_clearance_and_ownership_of_existing_references(world: World) -> None:
    ActivityFactory(relationship=world.rel_b, external_ref="theirs")
    ActivityFactory(relationship=world.rel_a, external_ref="secret", releasability=Classification.RESTRICTED)
    result = activity_bulk_import(
        actor=world.officer_a,
        rows=[
            row(2, state_a="CU", state_b="US"),
            row(3, releasability="restricted"),
            row(4, external_ref="theirs"),
            row(5, external_ref="secret"),
        ],
    )
    assert [(error.row, error.column, error.message) for error in result.errors] == [
        # Another desk's relationship does not exist for the officer, like an unknown pair.
        (2, "state_a", "No relationship between Cuba and United States is registered."),
        (3, "releasability", "You may not record an activity above your clearance."),
        (4, "external_ref", "'theirs' is already used by an activity you may not change."),
        (5, "external_ref", "'secret' is already used by an activity you may not change."),
    ]


def test_managers_may_not_import(world: World) -> None:
    result = activity_bulk_import(actor=world.manager, rows=[row(2)])
    assert result.errors == [RowError(0, "", "Your role may not record activities.")]


def test_deleted_records_must_be_restored_first(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, external_ref="gone", deleted_at=datetime.datetime.now(datetime.UTC))
    result = activity_bulk_import(actor=world.officer_a, rows=[row(2, external_ref="gone")])
    assert result.errors == [RowError(2, "external_ref", "The activity 'gone' is deleted; restore it first.")]


def test_accreditation_must_be_visible_and_of_the_same_relationship(world: World) -> None:
    channel = AccreditationFactory(
        attache=AttacheFactory(sending_country="US"), post=PostFactory(sending_country="US", host_country="BY")
    )
    other = AccreditationFactory(
        attache=AttacheFactory(sending_country="US"), post=PostFactory(sending_country="US", host_country="CU")
    )
    result = activity_bulk_import(
        actor=world.admin,
        rows=[
            row(2, accreditation=str(channel.pk)),
            row(3, accreditation=str(other.pk)),
            row(4, accreditation="999999"),
        ],
    )
    assert [(error.row, error.message) for error in result.errors] == [
        (3, f"Accreditation {other.pk} belongs to Cuba – United States, not to Belarus – United States."),
        (4, "There is no accreditation 999999."),
    ]
    hidden = activity_bulk_import(actor=world.officer_a, rows=[row(2, accreditation=str(other.pk))])
    assert hidden.errors == [RowError(2, "accreditation", f"There is no accreditation {other.pk}.")]


def test_an_inactive_area_is_refused_for_new_records_only(world: World) -> None:
    activity_bulk_import(actor=world.admin, rows=[row(2, area="demining")])
    area("demining").__class__.objects.filter(code="demining").update(is_active=False)
    result = activity_bulk_import(
        actor=world.admin, rows=[row(2, area="demining", title="Renamed"), row(3, area="demining")]
    )
    assert result.errors == [RowError(3, "area", "The area 'demining' is no longer in use.")]


def test_spreadsheet_values_and_quoted_formulas_are_understood(world: World) -> None:
    result = activity_bulk_import(
        actor=world.admin,
        rows=[
            row(
                2,
                start_date=datetime.datetime(2017, 3, 1),
                end_date=datetime.date(2017, 3, 2),
                participants=12.0,
                title="'=not a formula",
                external_ref=1234,
                kind="Technical assistance",
            )
        ],
    )
    assert result.ok
    activity = Activity.objects.get(external_ref="1234")
    assert activity.title == "=not a formula" and activity.kind == ActivityKind.TECHNICAL_ASSISTANCE
    assert activity.end_date == datetime.date(2017, 3, 2)


def test_dry_run_writes_nothing_but_counts(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, external_ref="ext-2", title="Old", start_date=datetime.date(2017, 3, 1))
    result = activity_bulk_import(actor=world.officer_a, rows=[row(2), row(3)], dry_run=True)
    assert (result.created, result.updated, result.committed) == (1, 1, False)
    assert Activity.objects.get(external_ref="ext-2").title == "Old"
    assert not Activity.objects.filter(external_ref="ext-3").exists()


def test_a_commit_with_the_dry_runs_versions_refuses_rows_changed_or_created_since(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, external_ref="ext-2", title="Old", start_date=datetime.date(2017, 3, 1))
    checked = activity_bulk_import(actor=world.officer_a, rows=[row(2), row(3)], dry_run=True)
    assert checked.versions == {"ext-2": 1, "ext-3": None}
    unchanged = activity_bulk_import(
        actor=world.officer_a, rows=[row(2), row(3)], dry_run=True, expected_versions=checked.versions
    )
    assert unchanged.ok

    services.activity_update(
        actor=world.admin,
        activity=Activity.objects.get(external_ref="ext-2"),
        data={"title": "Theirs"},
        expected_version=1,
    )
    ActivityFactory(relationship=world.rel_a, external_ref="ext-3", title="Also theirs")
    result = activity_bulk_import(actor=world.officer_a, rows=[row(2), row(3)], expected_versions=checked.versions)
    assert not result.committed
    assert [(error.row, error.column) for error in result.errors] == [(2, "external_ref"), (3, "external_ref")]
    assert result.errors[0].message.startswith("'ext-2' was changed by someone else after the file was checked")
    assert result.errors[1].message.startswith("'ext-3' was created by someone else after the file was checked")
    assert sorted(Activity.objects.filter(external_ref__startswith="ext-").values_list("title", flat=True)) == [
        "Also theirs",
        "Theirs",
    ]


# The bulk rules agree with the single-row service ----------------------------------------

cells = st.fixed_dictionaries(
    {
        "title": st.sampled_from(["A course", "", " ", "x" * 300, "x" * 301]),
        "kind": st.sampled_from(["course", "visit", "parade", ""]),
        "status": st.sampled_from(["planned", "conducted", "unknown"]),
        "start_date": st.sampled_from(["2017-03-01", "2017-02-30", "", "2017-03-05", "0001-01-01", "9999-12-30"]),
        "end_date": st.sampled_from(["", "2017-03-01", "2017-02-28", "2017-03-04", "9999-12-31"]),
        "participants": st.sampled_from(["0", "5", "-1", "2147483647", "2147483648"]),
        "releasability": st.sampled_from(["public", "internal", "restricted"]),
        "location": st.sampled_from(["", "Minsk", "y" * 201]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=cells)
def test_bulk_validation_accepts_exactly_what_activity_create_accepts(world: World, values: dict[str, str]) -> None:
    bulk = activity_bulk_import(actor=world.officer_a, rows=[row(2, **values)], dry_run=True)
    single_ok = True
    try:
        services.activity_create(
            actor=world.officer_a,
            relationship=world.rel_a,
            area=area("education"),
            title=values["title"].strip(),
            kind=values["kind"],
            status=values["status"],
            start_date=datetime.date.fromisoformat(values["start_date"]),  # type: ignore[arg-type]
            end_date=datetime.date.fromisoformat(values["end_date"]) if values["end_date"] else None,
            participants=int(values["participants"]),
            releasability=Classification.from_code(values["releasability"]),
            location=values["location"],
        ).delete()
    except (ValidationError, ValueError, PermissionDenied):
        single_ok = False
    assert bulk.ok == single_ok, (values, bulk.errors)


def test_an_import_keeps_the_intensity_rollups_equal_to_a_fresh_aggregation(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    weight_set = WeightSet.objects.active()
    rebuild_rollups()  # the world's activities were written by factories, not services
    before = sum(rollup.conducted for rollup in IntensityRollup.objects.filter(relationship=world.rel_a))
    with django_capture_on_commit_callbacks(execute=True):
        activity_bulk_import(actor=world.officer_a, rows=[row(2), row(3, start_date="2018-05-04")])
    assert stored_rollups(weight_set_id=weight_set.pk) == fresh_aggregation(weight_set_id=weight_set.pk)
    counted = IntensityRollup.objects.filter(weight_set=weight_set, relationship=world.rel_a)
    assert sum(rollup.conducted for rollup in counted) == before + 2
    # An update that moves a row to another month is recomputed on commit.
    with django_capture_on_commit_callbacks(execute=True):
        result = activity_bulk_import(actor=world.officer_a, rows=[row(2, start_date="2019-11-20")])
    assert result.updated == 1
    assert stored_rollups(weight_set_id=weight_set.pk) == fresh_aggregation(weight_set_id=weight_set.pk)
