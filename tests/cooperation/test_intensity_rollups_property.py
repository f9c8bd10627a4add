"""Property: after any sequence of writes through the services, the rollups equal a
fresh aggregation over the activities (in SQL, and in Python with the pure score)."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cooperation import intensity, services
from cooperation.choices import ActivityKind, ActivityLevel, ActivityStatus, Classification
from cooperation.models import Activity, CooperationArea, Relationship, WeightSet

D = datetime.date
pytestmark = pytest.mark.django_db

field_values = {
    "relationship": st.integers(0, 1),
    "area": st.integers(0, 1),
    "level": st.sampled_from(ActivityLevel.values),
    "status": st.sampled_from(ActivityStatus.values),
    "start_date": st.builds(D, st.just(2017), st.integers(1, 3), st.sampled_from([1, 15, 28])),
    "days": st.one_of(st.none(), st.integers(1, 45)),
    "participants": st.integers(0, 300),
    "releasability": st.sampled_from(Classification.values),
}
fields_strategy = st.fixed_dictionaries({}, optional=field_values)
operation = st.one_of(
    st.tuples(st.just("create"), st.fixed_dictionaries(field_values)),
    st.tuples(st.just("update"), st.integers(0, 50), fields_strategy),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("restore"), st.integers(0, 50)),
    st.tuples(st.just("batch"), st.lists(st.fixed_dictionaries(field_values), min_size=1, max_size=4)),
    st.tuples(st.just("rolled_back"), st.fixed_dictionaries(field_values)),
    st.tuples(st.just("bulk_insert"), st.lists(st.fixed_dictionaries(field_values), min_size=1, max_size=4)),
)


class Abort(Exception):
    pass


def python_aggregation(weight_set: WeightSet) -> dict[tuple[int, int, datetime.date, int], tuple[int, Decimal, int]]:
    """The rollups recomputed without SQL, from the pure score of each activity."""
    area_weights = dict(weight_set.area_weights.values_list("area_id", "weight"))
    totals: dict[tuple[int, int, datetime.date, int], list[Any]] = defaultdict(lambda: [0, Decimal(0), 0])
    for activity in Activity.objects.all():
        key = (
            activity.relationship_id,
            activity.area_id,
            intensity.month_of(activity.start_date),
            activity.releasability,
        )
        if intensity.counts_as_conducted(activity):
            totals[key][0] += 1
            totals[key][1] += intensity.score_activity(activity, weight_set, area_weights)
        elif intensity.counts_in_pipeline(activity):
            totals[key][2] += 1
    return {key: (count, score, pipeline) for key, (count, score, pipeline) in totals.items()}


class World:
    def __init__(self) -> None:
        self.relationships = [
            Relationship.objects.get_or_create(state_a="BY", state_b="US")[0],
            Relationship.objects.get_or_create(state_a="CU", state_b="US")[0],
        ]
        self.areas = list(CooperationArea.objects.filter(code__in=["education", "medicine"]).order_by("code"))

    def values(self, fields: dict[str, Any]) -> dict[str, Any]:
        values = dict(fields)
        if "relationship" in values:
            values["relationship"] = self.relationships[values["relationship"]]
        if "area" in values:
            values["area"] = self.areas[values["area"]]
        if "days" in values:
            days = values.pop("days")
            start = values.get("start_date")
            values["end_date"] = None if days is None or start is None else start + datetime.timedelta(days=days - 1)
        return values

    def create(self, fields: dict[str, Any]) -> None:
        services.activity_create(actor=None, title="Generated", kind=ActivityKind.COURSE, **self.values(fields))

    def pick(self, index: int) -> Activity | None:
        activities = list(Activity.objects.order_by("pk"))
        return activities[index % len(activities)] if activities else None

    def apply(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "create":
            self.create(step[1])
        elif kind == "batch":
            with transaction.atomic():
                for fields in step[1]:
                    self.create(fields)
        elif kind == "bulk_insert":
            with transaction.atomic():
                rows = [
                    Activity(title="Imported", kind=ActivityKind.COURSE, **self.values(fields)) for fields in step[1]
                ]
                ids = [activity.pk for activity in Activity.objects.bulk_create(rows)]
                intensity.add_inserted_activities(activity_ids=ids)
        elif kind == "rolled_back":
            try:
                with transaction.atomic():
                    self.create(step[1])
                    raise Abort
            except Abort:
                pass
        else:
            activity = self.pick(step[1])
            if activity is None:
                return
            if kind == "update":
                data = self.values(step[2])
                if "end_date" in data and "start_date" not in data:
                    data["end_date"] = None if data["end_date"] is None else max(data["end_date"], activity.start_date)
                if "start_date" in data and "end_date" not in data and activity.end_date:
                    data["end_date"] = max(activity.end_date, data["start_date"])
                if activity.is_deleted:
                    return
                services.activity_update(actor=None, activity=activity, data=data, expected_version=None)
            elif kind == "delete":
                services.activity_soft_delete(actor=None, activity=activity, expected_version=None)
            else:
                services.activity_restore(actor=None, activity=activity)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operation, min_size=1, max_size=12))
def test_rollups_equal_a_fresh_aggregation_after_any_sequence_of_writes(steps: list[tuple[Any, ...]]) -> None:
    with transaction.atomic():
        world = World()
        for step in steps:
            # Each step commits as far as the on-commit hooks can tell.
            with TestCase.captureOnCommitCallbacks(execute=True):
                world.apply(step)
        weight_set = WeightSet.objects.active()
        stored = intensity.stored_rollups(weight_set_id=weight_set.pk)
        assert stored == intensity.fresh_aggregation(weight_set_id=weight_set.pk)
        assert stored == python_aggregation(weight_set)
        transaction.set_rollback(True)
