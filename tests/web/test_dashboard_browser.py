"""A manager's look at the dashboards in headless Chromium: sign in, read the overview, open a
relationship, switch to months, click a bar and land on the list whose total is the bar's
number, download the chart's CSV; then a manager without clearance for restricted records
sees figures without them. Screenshots of each step go to artifacts/."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cooperation import intensity
from cooperation.choices import Classification, Role
from cooperation.intensity import add_months, period_label, period_start
from tests.factories import ActivityFactory, RelationshipFactory, UserFactory, area
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/dashboard/")
    assert page.url.startswith(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/")


def card_count(page: Any, relationship_id: int) -> str:
    return page.locator(f"#card-{relationship_id} .card-count").inner_text()


def test_manager_reads_the_dashboards(live_server: Any, browser: Any, migrated_data: None, pin_today: Any) -> None:
    # The pages work out "this quarter" from the same day as the data below, even when a
    # quarter ends while the test runs.
    today = pin_today(timezone.localdate())
    quarter = period_start(today, "quarter")
    quiet_month = add_months(quarter, -2)  # in last quarter: only demining
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    for day, releasability in ((5, Classification.PUBLIC), (6, Classification.INTERNAL)):
        ActivityFactory(relationship=relationship, area=area("demining"), releasability=releasability,
                        start_date=quiet_month.replace(day=day))  # fmt: skip
    ActivityFactory(relationship=relationship, area=area("education"), start_date=quarter)
    ActivityFactory(relationship=relationship, area=area("medicine"), start_date=quarter,
                    releasability=Classification.RESTRICTED)  # fmt: skip
    intensity.rebuild_rollups()
    UserFactory(username="boss", role=Role.MANAGER, clearance=Classification.RESTRICTED)
    UserFactory(username="analyst", role=Role.MANAGER, clearance=Classification.INTERNAL)
    base = live_server.url

    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )

    # The overview: this quarter's conducted activities, restricted ones included for this manager.
    sign_in(page, base, "boss")
    assert card_count(page, relationship.pk) == "2"
    assert page.locator(f"#card-{relationship.pk} .last-quarter").inner_text().startswith("2 ")
    expect(page.locator(f"#card-{relationship.pk} svg.sparkline")).to_be_visible()
    screenshot(page, "dashboard-01-overview")

    # The relationship's dashboard, switched to months; the chart draws from the page's JSON.
    page.click(f"#card-{relationship.pk} .card-title a")
    page.click("#granularity-month")
    page.wait_for_url(re.compile(r"granularity=month"))
    chart = page.locator("#relationship-chart")
    expect(chart).to_have_attribute("data-rendered", "intensity")
    screenshot(page, "dashboard-02-relationship-by-month")
    page.click("[data-metric-for=relationship-chart] [data-metric=count]")
    expect(chart).to_have_attribute("data-rendered", "count")
    screenshot(page, "dashboard-03-counts-by-month")

    # Click the demining bar of the quiet month: the list opens with exactly that total.
    data = json.loads(page.locator("#relationship-chart-data").text_content())
    index = data["labels"].index(period_label(quiet_month, "month"))
    demining = next(dataset for dataset in data["datasets"] if dataset["code"] == "demining")
    number = demining["count"][index]
    assert number == 2
    left, right, bottom = (float(chart.get_attribute(f"data-chart-{side}")) for side in ("left", "right", "bottom"))
    width = (right - left) / len(data["labels"])
    chart.click(position={"x": left + (index + 0.5) * width, "y": bottom - 3})
    page.wait_for_url(re.compile(r"/activities/\?"))
    assert "area=demining" in page.url and f"relationship={relationship.pk}" in page.url
    expect(page.locator("#total")).to_have_text(re.compile(rf"^{number} activities"))
    screenshot(page, "dashboard-04-drill-down-list")

    # The chart's numbers as CSV.
    page.go_back()
    with page.expect_download() as download:
        page.click("#series-csv")
    rows = list(csv.DictReader(Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()))
    row = next(r for r in rows if r["period"] == period_label(quiet_month, "month") and r["area"] == "demining")
    assert int(row["count"]) == number
    assert (
        next(r for r in rows if r["period"] == period_label(quarter, "month") and r["area"] == "total")["count"] == "2"
    )

    # The comparison, at tablet width.
    page.set_viewport_size({"width": 820, "height": 1000})
    page.goto(f"{base}/dashboard/comparison/")
    expect(page.locator("#heatmap")).to_be_visible()
    # Wide tables scroll inside their own box; the page itself stays within the screen.
    for box in page.locator(".table-responsive").all():
        assert box.bounding_box()["width"] <= 820
    screenshot(page, "dashboard-05-comparison-tablet")
    context.close()

    # A manager without clearance for restricted records: figures without them.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, base, "analyst")
    assert card_count(page, relationship.pk) == "1"
    page.click(f"#card-{relationship.pk} .card-title a")
    this_quarter = page.locator(f'#series-table tr[data-period="{period_label(quarter, "quarter")}"] .total-count')
    expect(this_quarter).to_have_text("1")
    screenshot(page, "dashboard-06-lower-clearance")
    context.close()
    assert refused == []
