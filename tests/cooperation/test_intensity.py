"""The index: the score of one activity, its SQL twin, and rollups kept by the services."""

from __future__ import annotations

import datetime
import io
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from cooperation import intensity, services, weight_sets
from cooperation.choices import ActivityLevel, ActivityStatus, Classification
from cooperation.models import Activity, IntensityRollup, Relationship, WeightSet
from tests.concurrency import at_once
from tests.factories import ActivityFactory, RelationshipFactory, area

D = datetime.date
pytestmark = pytest.mark.django_db


def score(**kwargs: Any) -> Decimal:
    fields: dict[str, Any] = {
        "area_weight": 1,
        "level_weight": 2,
        "participants": 9,
        "start_date": D(2017, 3, 1),
        "end_date": None,
    }
    fields.update(kwargs)
    return intensity.activity_score(**fields)


def figures(relationship: Relationship, month: datetime.date) -> tuple[int, Decimal, int]:
    """(conducted, intensity, pipeline) in the rollups of the active set, over areas and releasabilities."""
    rows = IntensityRollup.objects.filter(
        weight_set=WeightSet.objects.active(), relationship=relationship, month=month
    ).values_list("conducted", "intensity", "pipeline")
    return (
        sum(row[0] for row in rows),
        sum((row[1] for row in rows), Decimal(0)),
        sum(row[2] for row in rows),
    )


def rollups_match_activities() -> bool:
    active = WeightSet.objects.active().pk
    return intensity.stored_rollups(weight_set_id=active) == intensity.fresh_aggregation(weight_set_id=active)


# The score, by hand ---------------------------------------------------------------------


def test_score_of_a_one_day_working_level_activity_with_nine_participants() -> None:
    # 1.0 × 2 × (1 + log10(10)) × sqrt(1) = 4
    assert score() == Decimal("4.000000")


def test_score_of_a_four_day_senior_activity_with_99_participants() -> None:
    # 1.0 × 3 × (1 + log10(100)) × sqrt(4) = 18
    assert score(level_weight=3, participants=99, end_date=D(2017, 3, 4)) == Decimal("18.000000")


def test_zero_participants_keep_the_base_factor_of_one() -> None:
    # 1.0 × 4 × (1 + log10(1)) × sqrt(1) = 4
    assert score(level_weight=4, participants=0) == Decimal("4.000000")


def test_days_are_capped_at_thirty() -> None:
    # 1.0 × 1 × 1 × sqrt(30) = 5.4772255… → 5.477226
    assert score(level_weight=1, participants=0, end_date=D(2017, 4, 14)) == Decimal("5.477226")
    assert score(level_weight=1, participants=0, end_date=D(2017, 3, 30)) == Decimal("5.477226")
    assert score(level_weight=1, participants=0, end_date=D(2017, 3, 29)) == Decimal("5.385165")  # sqrt(29)


def test_days_count_both_ends_and_no_end_date_is_one_day() -> None:
    assert intensity.activity_days(D(2017, 3, 1), None) == 1
    assert intensity.activity_days(D(2017, 3, 1), D(2017, 3, 1)) == 1
    assert intensity.activity_days(D(2017, 3, 28), D(2017, 4, 5)) == 9


@pytest.mark.parametrize(
    ("area_weight", "level_weight", "participants", "days", "expected"),
    [
        # 0.954 × 4 × (1 + log10(153)) × 1 = 12.1527825 (to 15 digits): half-way, rounded up
        (Decimal("0.954"), Decimal(4), 152, 1, Decimal("12.152783")),
        # 2.493 × 4 × (1 + log10(97)) × sqrt(22) = 139.6997545
        (Decimal("2.493"), Decimal(4), 96, 22, Decimal("139.699755")),
    ],
)
def test_a_score_exactly_half_way_rounds_away_from_zero_as_postgresql_does(
    area_weight: Decimal, level_weight: Decimal, participants: int, days: int, expected: Decimal
) -> None:
    level = ActivityLevel.WORKING
    weights = {name: Decimal(1) for name in ActivityLevel.values} | {level: level_weight}
    python = score(
        area_weight=area_weight,
        level_weight=level_weight,
        participants=participants,
        end_date=D(2017, 3, 1) + datetime.timedelta(days=days - 1),
    )
    assert python == expected == _sql_score(area_weight, level, weights, participants, days)


def test_area_weight_multiplies() -> None:
    assert score(area_weight=Decimal("2.5")) == Decimal("10.000000")


def test_score_refuses_impossible_activities() -> None:
    with pytest.raises(ValueError, match="participants"):
        score(participants=-1)
    with pytest.raises(ValueError, match="end date"):
        score(end_date=D(2017, 2, 28))


def _sql_score(area_weight: Decimal, level: str, weights: dict[str, Decimal], participants: int, days: int) -> Decimal:
    columns = {name: weights[level] for level, name in intensity.LEVEL_WEIGHT_FIELDS.items()}
    select_weights = ", ".join(f"%({name})s::numeric AS {name}" for name in columns)
    sql = (
        f"SELECT {intensity.SCORE_SQL} FROM "  # noqa: S608
        "(SELECT %(level)s::text AS level, %(participants)s::int AS participants, "
        "%(start)s::date AS start_date, (%(start)s::date + %(days)s - 1) AS end_date) a, "
        f"(SELECT {select_weights}) ws, (SELECT %(area_weight)s::numeric AS weight) aw"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                **columns,
                "level": level,
                "participants": participants,
                "start": D(2017, 3, 1),
                "days": days,
                "area_weight": area_weight,
            },
        )
        return cursor.fetchone()[0]


weights_strategy = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=3)


@settings(max_examples=150, deadline=None)
@given(
    area_weight=weights_strategy,
    level=st.sampled_from(ActivityLevel.values),
    level_weight=weights_strategy,
    participants=st.integers(min_value=0, max_value=1_000_000),
    days=st.integers(min_value=1, max_value=400),
)
def test_python_and_sql_scores_agree(
    area_weight: Decimal, level: str, level_weight: Decimal, participants: int, days: int
) -> None:
    weights = {name: Decimal(1) for name in ActivityLevel.values} | {level: level_weight}
    expected = intensity.activity_score(
        area_weight=area_weight,
        level_weight=level_weight,
        participants=participants,
        start_date=D(2017, 3, 1),
        end_date=D(2017, 3, 1) + datetime.timedelta(days=days - 1),
    )
    assert _sql_score(area_weight, level, weights, participants, days) == expected


# Which activities count, and where ------------------------------------------------------


@pytest.fixture
def relationship() -> Relationship:
    return Relationship.objects.create(state_a="BY", state_b="US")


def add(relationship: Relationship, **overrides: Any) -> Activity:
    fields: dict[str, Any] = {
        "relationship": relationship,
        "area": area("education"),
        "title": "Course",
        "kind": "course",
        "level": ActivityLevel.WORKING,
        "status": ActivityStatus.CONDUCTED,
        "start_date": D(2017, 3, 6),
        "participants": 9,
        "releasability": Classification.PUBLIC,
    }
    fields.update(overrides)
    return services.activity_create(actor=None, **fields)


def test_only_conducted_activities_count_and_planned_or_confirmed_are_the_pipeline(
    relationship: Relationship, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        add(relationship)  # 4
        add(relationship, status=ActivityStatus.PLANNED)
        add(relationship, status=ActivityStatus.CONFIRMED)
        add(relationship, status=ActivityStatus.CANCELLED)
        add(relationship, status=ActivityStatus.POSTPONED)
    assert figures(relationship, D(2017, 3, 1)) == (1, Decimal("4.000000"), 2)


def test_multi_day_activity_counts_once_in_the_month_it_starts(
    relationship: Relationship, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        add(relationship, start_date=D(2017, 3, 28), end_date=D(2017, 4, 5))  # 2 × 2 × sqrt(9) = 12
    assert figures(relationship, D(2017, 3, 1)) == (1, Decimal("12.000000"), 0)
    assert figures(relationship, D(2017, 4, 1)) == (0, Decimal(0), 0)


def test_zero_participants_count_with_factor_one(
    relationship: Relationship, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        add(relationship, participants=0, level=ActivityLevel.MINISTERIAL)
    assert figures(relationship, D(2017, 3, 1)) == (1, Decimal("4.000000"), 0)


def test_soft_deleted_activities_never_count_and_restoring_brings_them_back(
    relationship: Relationship, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        activity = add(relationship)
        add(relationship, status=ActivityStatus.PLANNED)
    with django_capture_on_commit_callbacks(execute=True):
        services.activity_soft_delete(actor=None, activity=activity, expected_version=None)
    assert figures(relationship, D(2017, 3, 1)) == (0, Decimal(0), 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.activity_restore(actor=None, activity=activity)
    assert figures(relationship, D(2017, 3, 1)) == (1, Decimal("4.000000"), 1)


def test_update_refreshes_the_old_and_the_new_month(
    relationship: Relationship, django_capture_on_commit_callbacks: Any
) -> None:
    other = RelationshipFactory(state_a="CU", state_b="US")
    with django_capture_on_commit_callbacks(execute=True):
        activity = add(relationship)
    with django_capture_on_commit_callbacks(execute=True):
        services.activity_update(
            actor=None,
            activity=activity,
            data={"relationship": other, "start_date": D(2017, 5, 2)},
            expected_version=None,
        )
    assert figures(relationship, D(2017, 3, 1)) == (0, Decimal(0), 0)
    assert figures(other, D(2017, 5, 1)) == (1, Decimal("4.000000"), 0)
    assert rollups_match_activities()


def test_rollups_keep_releasability_apart(relationship: Relationship, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        add(relationship, releasability=Classification.PUBLIC)
        add(relationship, releasability=Classification.RESTRICTED, participants=99)
    rows = dict(IntensityRollup.objects.filter(relationship=relationship).values_list("releasability", "intensity"))
    assert rows == {Classification.PUBLIC: Decimal("4.000000"), Classification.RESTRICTED: Decimal("6.000000")}


def test_a_change_of_weights_recomputes_every_figure(
    relationship: Relationship, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        add(relationship)  # education, working, 9 participants, one day: 4 under the default set
        add(relationship, area=area("medicine"), level=ActivityLevel.SENIOR)  # 6
    default = WeightSet.objects.active()
    assert figures(relationship, D(2017, 3, 1)) == (2, Decimal("10.000000"), 0)
    new = weight_sets.weight_set_create(
        actor=None,
        name="Education first",
        level_weights={ActivityLevel.WORKING: Decimal("0.5")},
        area_weights={area("education"): Decimal("2.5")},
    )
    with django_capture_on_commit_callbacks(execute=True):
        weight_sets.weight_set_activate(actor=None, weight_set=new)
    # education: 2.5 × 0.5 × 2 × 1 = 2.5; medicine: 1 × 3 × 2 × 1 = 6
    assert WeightSet.objects.active() == new
    assert figures(relationship, D(2017, 3, 1)) == (2, Decimal("8.500000"), 0)
    assert not IntensityRollup.objects.filter(weight_set=default).exists()
    assert rollups_match_activities()


def test_score_activity_follows_the_weight_set(relationship: Relationship) -> None:
    activity = ActivityFactory(relationship=relationship, participants=9, level=ActivityLevel.SENIOR)
    default = WeightSet.objects.active()
    assert intensity.score_activity(activity, default) == Decimal("6.000000")
    doubled = weight_sets.weight_set_create(actor=None, name="Doubled", area_weights={area("education"): Decimal(2)})
    assert intensity.score_activity(activity, doubled) == Decimal("12.000000")
    activity.status = ActivityStatus.CONFIRMED
    assert intensity.score_activity(activity, doubled) == Decimal(0)


# Scheduling: one task per committed transaction, none on rollback -----------------------


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[list[list[Any]]]:
    from cooperation import tasks

    messages: list[list[list[Any]]] = []
    monkeypatch.setattr(tasks.refresh_intensity_rollups, "delay", lambda keys: messages.append(keys))
    return messages


def test_one_task_carries_every_key_of_a_transaction(
    relationship: Relationship, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for month in (1, 2, 2, 3):
            add(relationship, start_date=D(2017, month, 10))
    assert sent == [[[relationship.pk, "2017-01-01"], [relationship.pk, "2017-02-01"], [relationship.pk, "2017-03-01"]]]


def test_a_rolled_back_transaction_sends_nothing(
    relationship: Relationship, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        add(relationship)
        raise RuntimeError("abort")
    assert callbacks == []
    assert sent == []
    with django_capture_on_commit_callbacks(execute=True):
        add(relationship, start_date=D(2018, 1, 1))
    assert sent == [[[relationship.pk, "2018-01-01"]]]  # nothing left over from the rolled-back one


def test_keys_from_a_rolled_back_savepoint_do_not_block_later_ones(
    relationship: Relationship, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            add(relationship, start_date=D(2017, 1, 10))
            raise RuntimeError("abort")
        add(relationship, start_date=D(2017, 2, 10))
    assert sent == [[[relationship.pk, "2017-02-01"]]]


def test_a_rolled_back_savepoint_without_keys_keeps_one_task(
    relationship: Relationship, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        add(relationship, start_date=D(2017, 1, 10))
        with pytest.raises(RuntimeError), transaction.atomic():
            transaction.on_commit(lambda: None)
            raise RuntimeError("abort")
        add(relationship, start_date=D(2017, 2, 10))
    assert sent == [[[relationship.pk, "2017-01-01"], [relationship.pk, "2017-02-01"]]]


def test_editing_a_title_schedules_nothing(
    relationship: Relationship, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        activity = add(relationship)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.activity_update(actor=None, activity=activity, data={"title": "Renamed"}, expected_version=None)
    assert sent == []


@pytest.mark.django_db(transaction=True)
def test_schedule_refresh_outside_a_transaction_sends_at_once(sent: list[Any]) -> None:
    assert not connection.in_atomic_block
    intensity.schedule_refresh([(7, D(2017, 3, 9))])
    intensity.schedule_refresh([(8, D(2017, 4, 9))])
    assert sent == [[[7, "2017-03-01"]], [[8, "2017-04-01"]]]


def test_keys_travel_as_json_and_back() -> None:
    keys = [(3, D(2017, 3, 1)), (1, D(2017, 1, 1)), (3, D(2017, 3, 1))]
    encoded = intensity.encode_keys(keys)
    assert encoded == [[1, "2017-01-01"], [3, "2017-03-01"]]
    assert intensity.decode_keys(encoded) == [(1, D(2017, 1, 1)), (3, D(2017, 3, 1))]


# Recomputing: idempotent, safe in parallel, and the reconcile catches bypassing writes -----


def test_refreshing_twice_changes_nothing(relationship: Relationship, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        add(relationship)
        add(relationship, start_date=D(2017, 4, 3), status=ActivityStatus.PLANNED)
    keys = [(relationship.pk, D(2017, 3, 1)), (relationship.pk, D(2017, 4, 1))]
    before = intensity.stored_rollups(weight_set_id=WeightSet.objects.active().pk)
    intensity.refresh_rollups(keys=keys)
    intensity.refresh_rollups(keys=keys + keys)
    assert intensity.stored_rollups(weight_set_id=WeightSet.objects.active().pk) == before
    assert rollups_match_activities()


def test_the_reconcile_repairs_writes_that_bypassed_the_services(relationship: Relationship) -> None:
    ActivityFactory(relationship=relationship, participants=9)  # written directly: no refresh
    Activity.objects.filter(relationship=relationship).update(level=ActivityLevel.SENIOR)
    assert not rollups_match_activities()
    result = intensity.rebuild_rollups()
    assert result.rows == 1
    assert rollups_match_activities()
    assert figures(relationship, D(2017, 3, 1)) == (1, Decimal("6.000000"), 0)


def test_rebuild_intensity_command_rebuilds(relationship: Relationship, capsys: pytest.CaptureFixture[str]) -> None:
    ActivityFactory(relationship=relationship)
    call_command("rebuild_intensity")
    assert "Rebuilt 1 rollup rows for 1 relationships" in capsys.readouterr().out
    assert rollups_match_activities()


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_the_same_keys_never_double_count(migrated_data: None) -> None:
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    for day in range(1, 21):
        ActivityFactory(relationship=relationship, start_date=D(2017, 3, day), participants=9)
    keys = [(relationship.pk, D(2017, 3, 1))]

    def refresh() -> None:
        for _ in range(3):
            intensity.refresh_rollups(keys=keys)

    errors = [outcome for outcome in at_once([refresh] * 4, timeout=60) if outcome is not None]
    assert errors == []
    assert figures(relationship, D(2017, 3, 1)) == (20, Decimal("80.000000"), 0)
    assert rollups_match_activities()


def test_synthetic_volume_arrives_with_its_rollups() -> None:
    call_command("seed_demo", synthetic=300, seed=5, relationships=10, stdout=io.StringIO())
    assert IntensityRollup.objects.exists()
    assert rollups_match_activities()


# Bulk inserts add to the rollups inside their own transaction ------------------------------


def bulk_insert(relationship: Relationship, count: int, **overrides: Any) -> list[int]:
    fields: dict[str, Any] = {
        "relationship": relationship,
        "area": area("education"),
        "title": "Imported",
        "kind": "course",
        "status": ActivityStatus.CONDUCTED,
        "start_date": D(2017, 3, 6),
        "participants": 9,
    }
    fields.update(overrides)
    return [activity.pk for activity in Activity.objects.bulk_create(Activity(**fields) for _ in range(count))]


def test_bulk_inserted_rows_are_added_once_in_their_transaction(relationship: Relationship) -> None:
    ActivityFactory(relationship=relationship, participants=9)
    intensity.rebuild_rollups()
    with transaction.atomic():
        ids = bulk_insert(relationship, 3) + bulk_insert(relationship, 2, status=ActivityStatus.PLANNED)
        assert intensity.add_inserted_activities(activity_ids=ids) == 1
        assert intensity.add_inserted_activities(activity_ids=ids) == 0  # already added
    assert figures(relationship, D(2017, 3, 1)) == (4, Decimal("16.000000"), 2)
    assert rollups_match_activities()


def test_adding_rolls_back_with_the_rows(relationship: Relationship) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        intensity.add_inserted_activities(activity_ids=bulk_insert(relationship, 3))
        raise RuntimeError("abort")
    assert not IntensityRollup.objects.exists()
    assert rollups_match_activities()


@pytest.mark.django_db(transaction=True)
def test_adding_outside_a_transaction_is_refused(migrated_data: None) -> None:
    with pytest.raises(transaction.TransactionManagementError, match="in the transaction that inserted them"):
        intensity.add_inserted_activities(activity_ids=[1])


@pytest.mark.django_db(transaction=True)
def test_a_refresh_during_an_import_waits_for_it_and_never_double_counts(migrated_data: None) -> None:
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    ActivityFactory(relationship=relationship, participants=9)
    intensity.rebuild_rollups()
    added, refreshed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            added.wait(timeout=10)
            intensity.refresh_rollups(keys=[(relationship.pk, D(2017, 3, 1))])  # blocks on the import's lock
            refreshed.set()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=refresh)
    worker.start()
    with transaction.atomic():
        intensity.add_inserted_activities(activity_ids=bulk_insert(relationship, 2))
        added.set()
        assert not refreshed.wait(timeout=1)  # still waiting for this transaction
    worker.join(timeout=30)
    assert errors == [] and refreshed.is_set()
    assert figures(relationship, D(2017, 3, 1)) == (3, Decimal("12.000000"), 0)
    assert rollups_match_activities()


def test_rollups_go_with_a_relationship_deleted_through_the_orm(relationship: Relationship) -> None:
    ActivityFactory(relationship=relationship)
    intensity.rebuild_rollups()
    assert IntensityRollup.objects.filter(relationship_id=relationship.pk).exists()  # there is something to go
    Activity.objects.filter(relationship=relationship).delete()  # hard delete: the rollups are now stale
    relationship.delete()
    assert not IntensityRollup.objects.exists()


def test_the_reconcile_drops_rows_of_relationships_deleted_with_sql(relationship: Relationship) -> None:
    ActivityFactory(relationship=relationship)
    intensity.rebuild_rollups()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cooperation_activity WHERE relationship_id = %s", [relationship.pk])
        cursor.execute("DELETE FROM cooperation_relationship WHERE id = %s", [relationship.pk])
    assert IntensityRollup.objects.filter(relationship_id=relationship.pk).exists()
    assert intensity.rebuild_rollups().stale_deleted == 1
    assert not IntensityRollup.objects.exists()
