"""docs/intensity.md: every number in its worked example is the one the code produces.

Each example table in the document follows a marker `<!-- example: NAME -->`; the
functions below compute the same table from the demo data (`seed_demo`) through the
index and the selector, and the test compares them cell by cell.
"""

from __future__ import annotations

import datetime
import io
import math
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from cooperation import intensity
from cooperation.intensity_selectors import intensity_series, intensity_trends
from cooperation.models import Activity, Relationship, WeightSet

D = datetime.date
DOC = Path(__file__).resolve().parent.parent / "docs" / "intensity.md"
Table = list[list[str]]


def money(value: Decimal | float) -> str:
    return f"{value:.2f}"


def percent(value: float | None) -> str:
    return "— (from zero)" if value is None else f"{value:+.1%}"


def by_us() -> Relationship:
    return Relationship.objects.between("BY", "US").get()


def scores_2017() -> Table:
    weight_set = WeightSet.objects.active()
    rows = []
    activities = Activity.objects.filter(relationship=by_us(), start_date__year=2017).select_related("area")
    for activity in activities.order_by("start_date"):
        days = activity.days
        rows.append(
            [
                activity.external_ref or "",
                activity.start_date.isoformat(),
                activity.area.name,
                f"{activity.get_level_display()} ({weight_set.level_weight(activity.level).normalize():f})",
                str(activity.participants),
                f"{1 + math.log10(1 + activity.participants):.4f}",
                str(days),
                f"{math.sqrt(min(days, intensity.MAX_DAYS)):.4f}",
                f"{intensity.score_activity(activity, weight_set)}",
            ]
        )
    return rows


def _quarters(user: str, start: D, end: D) -> Table:
    series = intensity_series(
        user=User.objects.get(username=user), relationships=[by_us()], start=start, end=end, granularity="quarter"
    )
    return [[p.label, str(p.count), money(p.intensity), str(p.breadth), str(p.pipeline)] for p in series.total]


def quarters_2017() -> Table:
    return _quarters("manager", D(2017, 1, 1), D(2017, 12, 31))


def areas_2017() -> Table:
    series = intensity_series(
        user=User.objects.get(username="manager"), relationships=[by_us()], start=D(2017, 1, 1), end=D(2017, 12, 31)
    )
    rows = [[area.name, *(money(p.intensity) for p in area.points)] for area in series.areas]
    return [*rows, ["Total", *(money(p.intensity) for p in series.total)]]


def quarters_2019() -> Table:
    return _quarters("manager", D(2019, 1, 1), D(2020, 3, 31))


def clearance_2018() -> Table:
    rows = []
    for username in ("officer", "manager"):
        user = User.objects.get(username=username)
        series = intensity_series(
            user=user, relationships=[by_us()], start=D(2018, 1, 1), end=D(2018, 12, 31), granularity="year"
        )
        total = series.total[0]
        rows.append([username, str(total.count), money(total.intensity), str(total.breadth)])
    return rows


def trend_2017q4() -> Table:
    signal = next(
        s
        for s in intensity_trends(
            user=User.objects.get(username="manager"), granularity="quarter", as_of=D(2018, 1, 15), threshold=0.25
        )
        if s.relationship_id == by_us().pk
    )
    return [
        [
            signal.period_label,
            money(signal.latest),
            money(signal.previous),
            percent(signal.change_vs_previous),
            signal.flag_vs_previous or "—",
            money(signal.trailing_average),
            percent(signal.change_vs_average),
            signal.flag_vs_average or "—",
        ]
    ]


EXAMPLES: dict[str, Callable[[], Table]] = {
    "scores-2017": scores_2017,
    "quarters-2017": quarters_2017,
    "areas-2017": areas_2017,
    "quarters-2019": quarters_2019,
    "clearance-2018": clearance_2018,
    "trend-2017q4": trend_2017q4,
}


def document_tables(text: str) -> dict[str, Table]:
    """The body rows of the table after each `<!-- example: NAME -->` marker."""
    tables: dict[str, Table] = {}
    for match in re.finditer(r"<!-- example: ([\w-]+) -->\n+((?:\|.*\|\n?)+)", text):
        lines = [line.strip() for line in match.group(2).strip().splitlines()]
        body = lines[2:]  # header and separator
        tables[match.group(1)] = [[cell.strip() for cell in line.strip("|").split("|")] for line in body]
    return tables


def render(name: str) -> str:
    """The table body as the document should print it (to update the document by hand)."""
    return "\n".join("| " + " | ".join(row) + " |" for row in EXAMPLES[name]())


@pytest.fixture
def demo(db: None) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    intensity.rebuild_rollups()


def test_the_document_has_every_example() -> None:
    assert set(document_tables(DOC.read_text())) == set(EXAMPLES)


def test_every_number_in_the_worked_example_is_what_the_code_produces(demo: None) -> None:
    printed = document_tables(DOC.read_text())
    stale = [name for name, compute in EXAMPLES.items() if printed.get(name) != compute()]
    assert not stale, "docs/intensity.md is out of date; these tables should read:\n" + "\n\n".join(
        f"<!-- example: {name} -->\n{render(name)}" for name in stale
    )
    # and the scores printed add up to the quarters printed
    by_quarter: dict[int, Decimal] = {}
    for row in printed["scores-2017"]:
        quarter = (int(row[1][5:7]) - 1) // 3 + 1
        by_quarter[quarter] = by_quarter.get(quarter, Decimal(0)) + Decimal(row[-1])
    assert [money(by_quarter[q]) for q in (1, 2, 3, 4)] == [row[2] for row in printed["quarters-2017"]]


def test_the_trend_prose_quotes_the_quarters_and_changes_the_code_produces(demo: None) -> None:
    text = " ".join(DOC.read_text().split())
    match = re.search(
        r"fell by ([\d.]+) %; against the mean of the four quarters before it \(2016 Q4 to 2017 Q3: "
        r"([\d.]+), ([\d.]+), ([\d.]+) and ([\d.]+)\) it rose by ([\d.]+) %",
        text,
    )
    assert match, "the trend paragraph of docs/intensity.md no longer has the expected shape"
    fell, *quarters, rose = match.groups()
    assert quarters == [row[2] for row in _quarters("manager", D(2016, 10, 1), D(2017, 9, 30))]
    (row,) = trend_2017q4()
    assert (f"-{fell}%", f"+{rose}%") == (row[3], row[6])
