"""Dashboard pages: figures, drill-down to the activity list (its total equals the chart's
number), clearance, CSV downloads, wrong input, and bounded queries."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from cooperation import intensity
from cooperation.choices import AccreditationKind, AccreditationStatus, ActivityLevel, ActivityStatus, Classification
from cooperation.intensity import activity_score
from cooperation.models import CooperationArea, WeightSet
from tests.conftest import World
from tests.factories import (
    AccreditationFactory,
    ActivityFactory,
    AttacheFactory,
    PostFactory,
    RelationshipFactory,
    area,
)

pytestmark = pytest.mark.django_db

D = datetime.date
OVERVIEW = reverse("dashboards:overview")
COMPARISON = reverse("dashboards:comparison")
# The world's activities: education, working level, 10 participants, one day, 1 March 2017.
WORLD_SCORE = Decimal("4.082785")


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def relationship_url(world_rel: Any, **query: str) -> str:
    url = reverse("dashboards:relationship", kwargs={"pk": world_rel.pk})
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def text(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(text(response))))


def list_total(client: Client, link: str) -> int:
    """The total the workspace's activity list shows for a drill-down link."""
    response = client.get(link)
    assert response.status_code == 200, link
    total = response.context["total"]
    assert re.search(rf"<strong>{total}</strong> activit", response.content.decode())
    return int(total)


@pytest.fixture
def mix(world: World) -> World:
    """Activities around quarter and year boundaries, in several areas, statuses and releasabilities."""
    rel_a, rel_b = world.rel_a, world.rel_b
    add = ActivityFactory
    add(relationship=rel_a, area=area("demining"), start_date=D(2016, 12, 31), releasability=Classification.INTERNAL)
    add(relationship=rel_a, area=area("demining"), start_date=D(2017, 1, 1), releasability=Classification.PUBLIC)
    add(relationship=rel_a, area=area("medicine"), start_date=D(2017, 3, 31), releasability=Classification.RESTRICTED)
    add(
        relationship=rel_a,
        area=area("medicine"),
        start_date=D(2017, 4, 1),
        end_date=D(2017, 4, 20),
        participants=30,
        level=ActivityLevel.SENIOR,
        releasability=Classification.INTERNAL,
    )
    add(relationship=rel_a, area=area("education"), start_date=D(2017, 6, 15), status=ActivityStatus.PLANNED)
    add(relationship=rel_a, area=area("education"), start_date=D(2017, 6, 20), status=ActivityStatus.CANCELLED)
    add(
        relationship=rel_a,
        area=area("peacekeeping"),
        start_date=D(2017, 7, 3),
        deleted_at=datetime.datetime.now(datetime.UTC),
    )
    add(relationship=rel_a, area=area("peacekeeping"), start_date=D(2018, 2, 10), releasability=Classification.INTERNAL)
    add(relationship=rel_b, area=area("medicine"), start_date=D(2017, 2, 14), releasability=Classification.PUBLIC)
    add(
        relationship=rel_b,
        area=area("education"),
        start_date=D(2017, 5, 5),
        status=ActivityStatus.CONFIRMED,
        releasability=Classification.RESTRICTED,
    )  # fmt: skip
    intensity.rebuild_rollups()
    return world


# Drill-down: the list's total equals the chart's number ---------------------------------------


def chart_links(response: Any) -> list[tuple[str, int, str]]:
    """(what, count, link) for every bar of the chart (per area) and every period's total."""
    chart = response.context["chart"]
    links = []
    for dataset in chart["datasets"]:
        for label, count, link in zip(chart["labels"], dataset["count"], dataset["links"], strict=True):
            links.append((f"{dataset['code']} {label}", count, link))
    for label, count, link in zip(chart["labels"], chart["total"]["count"], chart["total"]["links"], strict=True):
        links.append((f"total {label}", count, link))
    return links


@pytest.mark.parametrize("who", ["admin", "manager", "officer_a"])
@pytest.mark.parametrize("granularity", ["month", "quarter", "year"])
def test_every_chart_number_drills_down_to_a_list_with_that_total(mix: World, who: str, granularity: str) -> None:
    client = signed_in(mix.users()[who])
    response = client.get(relationship_url(mix.rel_a, granularity=granularity, start="2016-11-01", end="2018-03-31"))
    assert response.status_code == 200
    links = chart_links(response)
    nonzero = [link for link in links if link[1]]
    assert len(nonzero) >= 6
    zeros = [link for link in links if not link[1]][:3]
    for what, count, link in nonzero + zeros:
        assert list_total(client, link) == count, (who, granularity, what, link)


def test_drill_down_links_carry_exactly_the_chart_filters(mix: World) -> None:
    response = signed_in(mix.manager).get(
        relationship_url(mix.rel_a, granularity="quarter", start="2017-01-01", end="2017-12-31")
    )
    chart = response.context["chart"]
    medicine = next(dataset for dataset in chart["datasets"] if dataset["code"] == "medicine")
    query = parse_qs(urlsplit(medicine["links"][1]).query)
    assert urlsplit(medicine["links"][1]).path == reverse("workspace:activity_list")
    assert query == {
        "relationship": [str(mix.rel_a.pk)],
        "area": ["medicine"],
        "status": ["conducted"],
        "start_date_after": ["2017-04-01"],
        "start_date_before": ["2017-06-30"],
    }
    assert medicine["count"] == [0, 1, 0, 0]  # the restricted one of 31 March is above the manager's clearance


def test_lower_clearance_sees_figures_without_restricted_activities(mix: World) -> None:
    url = relationship_url(mix.rel_a, granularity="quarter", start="2017-01-01", end="2017-03-31")
    admin = signed_in(mix.admin).get(url).context["chart"]["total"]
    manager = signed_in(mix.manager).get(url).context["chart"]["total"]
    # Q1 2017: world (public, internal, restricted) + demining 1 Jan (public) + medicine 31 Mar (restricted)
    assert admin["count"] == [5] and manager["count"] == [3]
    medicine = activity_score(area_weight=1, level_weight=2, participants=10, start_date=D(2017, 3, 31), end_date=None)
    assert Decimal(str(admin["intensity"][0])) - Decimal(str(manager["intensity"][0])) == WORLD_SCORE + medicine
    overview = signed_in(mix.manager).get(OVERVIEW, {"as_of": "2017-02-01"}).content.decode()
    card = overview[overview.index(f'id="card-{mix.rel_a.pk}"') :]
    assert re.search(r'class="fs-3 fw-semibold card-count"[^>]*>3<', card)


def test_overview_cards_compare_this_quarter_with_last_quarter_and_a_year_ago(mix: World) -> None:
    client = signed_in(mix.manager)
    response = client.get(OVERVIEW, {"as_of": "2017-05-10"})
    assert response.status_code == 200
    cards = {card.relationship_id: card for card in response.context["overview"].cards}
    card = cards[mix.rel_a.pk]
    assert (card.this_quarter.count, card.last_quarter.count, card.year_ago.count) == (1, 3, 0)
    assert (card.this_quarter.breadth, card.this_quarter.pipeline) == (1, 1)
    assert [point.label for point in card.sparkline[:2]] == ["2015 Q3", "2015 Q4"]
    assert card.sparkline[-2].count == 3 and card.sparkline[-3].count == 1  # 2016 Q4: 31 December
    assert card.flag == "rising"  # 2017 Q1 against the four quarters before
    content = response.content.decode()
    assert "2017 Q2 so far" in content and "Belarus – United States" in content and "Cuba – United States" in content
    assert 'id="rising"' in content and content.index("Belarus – United States") < content.index('id="cards"')
    views = {view.card.relationship_id: view for view in response.context["cards"]}
    assert list_total(client, views[mix.rel_a.pk].count_url) == 1
    assert list_total(client, views[mix.rel_a.pk].pipeline_url) == 1
    assert (views[mix.rel_a.pk].last_change, views[mix.rel_a.pk].year_change) == ("−2", "+1")
    assert views[mix.rel_a.pk].trend_text.startswith("2017 Q1: +")
    table = content[content.index('id="overview-table"') :]
    assert re.search(r">Belarus – United States</a></th><td class=\"num\">1</td><td class=\"num\">3</td>", table)


def test_overview_lists_only_upcoming_activities_the_user_may_see(mix: World) -> None:
    ActivityFactory(relationship=mix.rel_a, title="Later, restricted", status=ActivityStatus.PLANNED,
                    start_date=D(2017, 6, 1), releasability=Classification.RESTRICTED)  # fmt: skip
    ActivityFactory(relationship=mix.rel_a, title="Past plan", status=ActivityStatus.PLANNED, start_date=D(2017, 1, 5))
    manager = signed_in(mix.manager).get(OVERVIEW, {"as_of": "2017-05-10"})
    assert [activity.start_date for activity in manager.context["overview"].upcoming] == [D(2017, 6, 15)]
    admin = signed_in(mix.admin).get(OVERVIEW, {"as_of": "2017-05-10"})
    assert [a.start_date for a in admin.context["overview"].upcoming] == [D(2017, 6, 1), D(2017, 6, 15)]
    officer_b = signed_in(mix.officer_b).get(OVERVIEW, {"as_of": "2017-05-10"}).content.decode()
    assert "Belarus – United States" not in officer_b and "Cuba – United States" in officer_b


def test_comparison_heatmap_and_periods_link_to_lists_with_their_totals(mix: World) -> None:
    client = signed_in(mix.manager)
    response = client.get(COMPARISON, {"granularity": "quarter", "start": "2016-10-01", "end": "2017-06-30",
                                       "a": "2017-01-01", "b": "2017-04-01"})  # fmt: skip
    assert response.status_code == 200
    rows = {row.relationship_id: row for row in response.context["heat_rows"]}
    assert [cell.point.count for cell in rows[mix.rel_a.pk].cells] == [1, 3, 1]
    assert [cell.point.count for cell in rows[mix.rel_b.pk].cells] == [0, 3, 0]
    for cell in rows[mix.rel_a.pk].cells + rows[mix.rel_b.pk].cells:
        assert list_total(client, cell.url) == cell.point.count
    # Shades by rank of the distinct values 4.08 (31 Dec), 12.25 (Q1 of both) and 33.4 (the senior course)
    assert [cell.level for cell in rows[mix.rel_a.pk].cells] == [1, 3, 5]
    assert [cell.level for cell in rows[mix.rel_b.pk].cells] == [0, 3, 0]
    assert [level for level, _ in response.context["legend"]] == [1, 3, 5]
    comparison = response.context["comparison"]
    assert (comparison.a_label, comparison.b_label) == ("2017 Q1", "2017 Q2")
    side = {row["row"].relationship_id: row for row in response.context["rows"]}
    assert (side[mix.rel_a.pk]["row"].a.count, side[mix.rel_a.pk]["row"].b.count) == (3, 1)
    assert list_total(client, side[mix.rel_a.pk]["a_url"]) == 3
    assert list_total(client, side[mix.rel_b.pk]["b_url"]) == 0
    chart = response.context["chart"]
    assert chart["labels"] == ["Belarus – United States", "Cuba – United States"]
    assert chart["datasets"][0]["count"] == [3, 3] and chart["datasets"][1]["count"] == [1, 0]


def test_accreditation_periods_show_their_figures_and_timeline(mix: World) -> None:
    post = PostFactory(sending_country="US", host_country="UA", city="Kyiv", name="US Embassy Kyiv")
    attache = AttacheFactory(sending_country="US", name="Whitaker")
    AccreditationFactory(attache=attache, post=post)  # resident in Ukraine: another relationship
    concurrent = AccreditationFactory(
        attache=attache, post=post, host_country="BY", kind=AccreditationKind.CONCURRENT,
        requested_on=D(2016, 1, 5), agrement_on=D(2016, 2, 1), accredited_on=D(2016, 12, 15),
        status=AccreditationStatus.ENDED, ended_on=D(2017, 3, 10),
    )  # fmt: skip
    hidden = AccreditationFactory(
        attache=AttacheFactory(sending_country="BY", name="Hidden"), post=PostFactory(sending_country="BY",
        host_country="US", city="Washington"), releasability=Classification.RESTRICTED,
    )  # fmt: skip
    assert concurrent.relationship == mix.rel_a and hidden.relationship == mix.rel_a
    client = signed_in(mix.manager)
    response = client.get(relationship_url(mix.rel_a, granularity="quarter", start="2016-10-01", end="2017-12-31"))
    periods = response.context["periods"]
    assert [item["period"].accreditation for item in periods] == [concurrent]  # restricted: not the manager's
    period = periods[0]["period"]
    # December 2016 to March 2017: 31 Dec, 1 Jan, the world's 1 March (public, internal); not 31 March (restricted)
    assert (period.first_month, period.last_month, period.count) == (D(2016, 12, 1), D(2017, 3, 1), 4)
    assert list_total(client, periods[0]["url"]) == 4
    [bar] = response.context["timeline"]
    # Five quarters on the axis: 15 December is 75/92 into the first, 10 March 68/90 into the third.
    assert bar.x == round(100 * (75 / 92) / 5, 3)
    assert bar.x + bar.width == pytest.approx(100 * (1 + 69 / 90) / 5, abs=0.002)
    content = response.content.decode()
    assert 'data-align-with="relationship-chart"' in content and "timeline-concurrent" in content
    assert "Hidden" not in content
    rows = csv_rows(client.get(reverse("dashboards:relationship_periods_csv", kwargs={"pk": mix.rel_a.pk})))
    assert [(row["accreditation"], row["kind"], row["count"]) for row in rows] == [
        (str(concurrent.pk), "concurrent", "4")
    ]
    admin_rows = csv_rows(
        signed_in(mix.admin).get(reverse("dashboards:relationship_periods_csv", kwargs={"pk": mix.rel_a.pk}))
    )
    assert len(admin_rows) == 2


def test_relationship_page_shows_counts_beside_the_chart_and_the_table(mix: World) -> None:
    response = signed_in(mix.manager).get(
        relationship_url(mix.rel_a, granularity="year", start="2016-01-01", end="2018-12-31")
    )
    table = response.context["table"]
    assert [(row.total.label, row.total.count, row.total.pipeline) for row in table.rows] == [
        ("2016", 1, 0), ("2017", 4, 1), ("2018", 1, 0),
    ]  # fmt: skip
    assert (table.count, table.breadth, table.pipeline) == (6, 4, 1)
    content = response.content.decode()
    assert re.search(r'id="summary-count"><a href="[^"]+">6</a>', content)
    assert 'id="series-table"' in content and 'data-period="2017"' in content
    payload = json.loads(
        re.search(r'<script id="relationship-chart-data" type="application/json">(.*?)</script>', content, re.S).group(
            1
        )
    )
    assert payload["labels"] == ["2016", "2017", "2018"] and payload["total"]["count"] == [1, 4, 1]
    assert "<script>" not in content  # CSP: no inline script, only JSON data blocks
    assert "/static/vendor/chartjs/chart.umd.js" in content and "/static/js/dashboards.js" in content


# CSV downloads: the chart's numbers ---------------------------------------------------------


def test_series_csv_holds_the_chart_numbers_per_area_and_total(mix: World) -> None:
    client = signed_in(mix.manager)
    query = {"granularity": "quarter", "start": "2017-01-01", "end": "2017-06-30"}
    chart = client.get(reverse("dashboards:relationship", kwargs={"pk": mix.rel_a.pk}), query).context["chart"]
    rows = csv_rows(client.get(reverse("dashboards:relationship_csv", kwargs={"pk": mix.rel_a.pk}), query))
    assert len(rows) == 2 * (len(chart["datasets"]) + 1)
    by_key = {(row["period"], row["area"]): row for row in rows}
    for dataset in chart["datasets"]:
        for label, count, value in zip(chart["labels"], dataset["count"], dataset["intensity"], strict=True):
            row = by_key[(label, dataset["code"])]
            assert int(row["count"]) == count and float(row["intensity"]) == pytest.approx(value)
    total = by_key[("2017 Q1", "total")]
    assert (total["count"], total["breadth"], total["period_end"]) == ("3", "2", "2017-03-31")
    assert total["intensity"] == f"{3 * WORLD_SCORE:.6f}"  # the world's two and 1 January's demining


def test_overview_heatmap_and_comparison_csv_honour_clearance(mix: World) -> None:
    for who, q1_count in (("manager", "3"), ("admin", "5")):
        client = signed_in(mix.users()[who])
        overview = csv_rows(client.get(reverse("dashboards:overview_csv"), {"as_of": "2017-02-01"}))
        row = next(row for row in overview if row["relationship"] == "Belarus – United States")
        assert row["count 2017 Q1 (this quarter)"] == q1_count
        heatmap = csv_rows(client.get(reverse("dashboards:heatmap_csv"), {"start": "2017-01-01", "end": "2017-03-31"}))
        assert [(r["relationship"], r["count"]) for r in heatmap] == [
            ("Belarus – United States", q1_count), ("Cuba – United States", "4" if who == "admin" else "3"),
        ]  # fmt: skip
        comparison = csv_rows(client.get(reverse("dashboards:comparison_csv"), {"a": "2017-02-01", "b": "2017-05-01"}))
        row = next(row for row in comparison if row["relationship"] == "Belarus – United States")
        assert (row["count 2017 Q1"], row["count 2017 Q2"]) == (q1_count, "1")


def test_every_dashboard_page_and_csv_says_which_weight_set_produced_its_figures(mix: World) -> None:
    """A file saved before a weight switch and one saved after cannot be told apart unless
    each says its set (as the API's CSV does); the pages name the set, not only its number."""
    active = WeightSet.objects.active()
    AccreditationFactory(post=PostFactory(host_country="BY", city="Minsk"))  # a period on the relationship
    client = signed_in(mix.manager)
    rel = {"pk": mix.rel_a.pk}
    query = {"start": "2017-01-01", "end": "2017-06-30"}
    pages = [
        (OVERVIEW, {"as_of": "2017-02-01"}),
        (COMPARISON, query),
        (reverse("dashboards:relationship", kwargs=rel), query),
    ]
    for url, params in pages:
        assert f"Figures from weight set “{active.name}” (#{active.pk})" in text(client.get(url, params)), url
    downloads = [
        (reverse("dashboards:overview_csv"), {"as_of": "2017-02-01"}),
        (reverse("dashboards:heatmap_csv"), query),
        (reverse("dashboards:comparison_csv"), {"a": "2017-02-01", "b": "2017-05-01"}),
        (reverse("dashboards:relationship_csv", kwargs=rel), query),
        (reverse("dashboards:relationship_periods_csv", kwargs=rel), {}),
    ]
    for url, params in downloads:
        rows = csv_rows(client.get(url, params))
        assert rows and {row["weight_set"] for row in rows} == {str(active.pk)}, url


def test_dashboard_csv_text_a_spreadsheet_would_run_is_quoted_and_numbers_stay_numbers(mix: World) -> None:
    """Every dashboard download writes text as the activity export does (exporters.neutralise)."""
    CooperationArea.objects.create(code="-A1", name="Liaison")  # a slug may start with a hyphen
    post = PostFactory(sending_country="US", host_country="UA", city="Kyiv", name="@SUM(A1)")
    AccreditationFactory(
        attache=AttacheFactory(sending_country="US", rank="", name="=HYPERLINK(A1)"), post=post, host_country="BY",
        kind=AccreditationKind.CONCURRENT, requested_on=D(2016, 1, 5), agrement_on=D(2016, 2, 1),
        accredited_on=D(2016, 12, 15), status=AccreditationStatus.ACCREDITED,
    )  # fmt: skip
    AccreditationFactory(attache=AttacheFactory(sending_country="US", name="Resident"), post=post)
    client = signed_in(mix.admin)
    query = {"granularity": "quarter", "start": "2017-01-01", "end": "2017-06-30"}
    series = csv_rows(client.get(reverse("dashboards:relationship_csv", kwargs={"pk": mix.rel_a.pk}), query))
    assert {row["area"] for row in series} >= {"'-A1", "demining", "total"}
    periods = csv_rows(client.get(reverse("dashboards:relationship_periods_csv", kwargs={"pk": mix.rel_a.pk})))
    assert [(row["attache"], row["post"]) for row in periods] == [("'=HYPERLINK(A1)", "'@SUM(A1)")]
    changes = [
        row["intensity change"]
        for a, b in (("2017-02-01", "2017-05-01"), ("2017-05-01", "2017-02-01"))
        for row in csv_rows(client.get(reverse("dashboards:comparison_csv"), {"a": a, "b": b}))
    ]
    assert any(change.startswith("-") for change in changes)  # a fall is a negative number, not quoted text
    for change in filter(None, changes):
        float(change)


# Wrong input: a clear error, never a 500 ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "message"),
    [
        (OVERVIEW, {"as_of": "soon"}, "Enter a valid date."),
        (OVERVIEW, {"as_of": "1066-10-14"}, "Choose a date between 1900-01-01 and 2199-12-31."),
        (COMPARISON, {"granularity": "week"}, "Select a valid choice."),
        (COMPARISON, {"start": "2018-01-01", "end": "2017-01-01"}, "cannot be before its start"),
        (COMPARISON, {"granularity": "month", "start": "2000-01-01", "end": "2017-01-01"}, "At most 60 periods"),
        (COMPARISON, {"a": "9999-12-31"}, "Choose a date between"),
    ],
)
def test_wrong_parameters_are_refused_with_a_message(
    world: World, url: str, params: dict[str, str], message: str
) -> None:
    response = signed_in(world.manager).get(url, params)
    assert response.status_code == 400
    assert message in response.content.decode()
    csv_url = reverse("dashboards:overview_csv") if url == OVERVIEW else reverse("dashboards:heatmap_csv")
    refused = signed_in(world.manager).get(csv_url, params)
    assert refused.status_code == 400 and message in refused.content.decode()


def test_relationship_range_errors_are_clear(world: World) -> None:
    client = signed_in(world.manager)
    too_long = client.get(relationship_url(world.rel_a, granularity="month", start="1950-01-01", end="2017-01-01"))
    assert too_long.status_code == 400 and "At most 240 periods" in too_long.content.decode()
    csv_url = reverse("dashboards:relationship_csv", kwargs={"pk": world.rel_a.pk})
    bad_date = client.get(csv_url, {"end": "2017-13-01"})
    assert bad_date.status_code == 400 and "Enter a valid date." in bad_date.content.decode()
    missing = client.get(reverse("dashboards:relationship", kwargs={"pk": 987654}))
    assert missing.status_code == 404 and "There is no such page or record" in missing.content.decode()


def test_default_range_runs_from_the_first_figures_and_stays_readable(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, status=ActivityStatus.PLANNED, start_date=D(2150, 1, 1))
    intensity.rebuild_rollups()
    response = signed_in(world.admin).get(relationship_url(world.rel_a, granularity="month"))
    assert response.status_code == 200
    series = response.context["series"]
    assert len(series.periods) <= 240 and series.periods[-1] <= D(2150, 1, 1)
    quarterly = signed_in(world.admin).get(relationship_url(world.rel_a)).context["series"]
    assert quarterly.periods[0] == D(2017, 1, 1) and quarterly.granularity == "quarter"


# Queries: bounded, whatever the number of relationships -----------------------------------------


def test_pages_use_a_bounded_number_of_queries(mix: World, django_assert_max_num_queries: Any) -> None:
    client = signed_in(mix.manager)
    pages = [
        (OVERVIEW, {"as_of": "2017-05-10"}),
        (COMPARISON, {"start": "2016-01-01", "end": "2017-12-31"}),
        (reverse("dashboards:relationship", kwargs={"pk": mix.rel_a.pk}), {"granularity": "month"}),
    ]
    for url, params in pages:
        client.get(url, params)  # warm the session
    for index in range(25):
        relationship = RelationshipFactory()
        ActivityFactory(relationship=relationship, start_date=D(2016 + index % 2, 1 + index % 12, 3))
    intensity.rebuild_rollups()
    for url, params in pages:
        with django_assert_max_num_queries(12):
            response = client.get(url, params)
        assert response.status_code == 200
    assert len(client.get(OVERVIEW, {"as_of": "2017-05-10"}).context["cards"]) == 27


def test_navigation_links_to_the_dashboard_for_workspace_users(world: World) -> None:
    assert 'href="/dashboard/"' in signed_in(world.manager).get("/").content.decode()
    assert 'href="/dashboard/"' in signed_in(world.officer_a).get("/").content.decode()
    assert 'href="/dashboard/"' not in signed_in(world.api_client).get("/").content.decode()
