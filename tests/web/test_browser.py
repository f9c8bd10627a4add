"""A desk officer's day in headless Chromium: sign in, create an activity (fixing a
validation error, then saving twice), filter the list, import a file with a bad row and then a corrected
one, export. Screenshots of the key steps go to artifacts/."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cooperation.bulk import IMPORT_COLUMNS
from cooperation.choices import Classification
from cooperation.models import Activity
from tests.factories import ActivityFactory, DeskFactory, RelationshipFactory, UserFactory
from tests.web.conftest import screenshot

# live_server needs committed data: a transactional test. pytest-django runs these after
# the others, and the founding areas (a data migration) are put back first in case an
# earlier transactional test flushed them.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def import_file(tmp_path: Path, name: str, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(IMPORT_COLUMNS)]
    for row in rows:
        values = dict.fromkeys(IMPORT_COLUMNS, "") | row
        lines.append(",".join(values[column] for column in IMPORT_COLUMNS))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def imported(ref: str, **changes: str) -> dict[str, str]:
    return {"external_ref": ref, "state_a": "BY", "state_b": "US", "area": "demining", "title": f"Clearance {ref}",
            "kind": "technical_assistance", "status": "conducted", "start_date": "2018-08-06",
            "participants": "25"} | changes  # fmt: skip


def founding_areas() -> None:
    from importlib import import_module

    from django.apps import apps

    migration = import_module("cooperation.migrations.0002_areas_and_accreditation_relationship_key")
    migration.create_areas(apps, None)


def send_post_twice(route: Any) -> None:
    """A form POST whose first answer never reaches the browser, sent again."""
    if route.request.method != "POST":
        route.continue_()
        return
    route.fetch(max_redirects=0)
    route.fulfill(response=route.fetch(max_redirects=0))


def test_desk_officer_workflow(live_server: Any, page: Any, tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    founding_areas()
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    desk = DeskFactory(name="Eastern Europe", relationships=[relationship])
    UserFactory(username="officer", clearance=Classification.INTERNAL, desks=[desk])
    base = live_server.url

    # Sign in.
    page.goto(f"{base}/activities/")
    assert page.url.startswith(f"{base}/accounts/login/")
    page.fill("#id_username", "officer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/activities/")
    assert "0 activities" in page.inner_text("#total")

    # Create an activity: a validation error is shown beside its field, the values stay.
    page.click("text=New activity")
    page.select_option("#id_relationship", label="Belarus – United States")
    page.select_option("#id_area", label="Military education")
    page.fill("#id_title", "English course for officers")
    page.select_option("#id_kind", "course")
    page.fill("#id_start_date", "2016-09-12")
    page.fill("#id_end_date", "2016-09-01")
    page.fill("#id_participants", "16")
    page.click("#activity-form button[type=submit]")
    assert "The end date cannot be before the start date." in page.inner_text("#id_end_date_errors")
    assert page.input_value("#id_title") == "English course for officers"
    screenshot(page, "browser-01-validation-error")
    page.fill("#id_end_date", "2016-12-16")
    # The answer to the save is lost and the POST is sent again (a retry, a second click):
    # the form's one-time key makes the second one land on the activity the first created.
    page.route(f"{base}/activities/new/", send_post_twice)
    page.click("#activity-form button[type=submit]")
    page.wait_for_selector("text=Activity “English course for officers” created.")
    page.unroute(f"{base}/activities/new/")
    assert "Belarus – United States" in page.inner_text("#activity-fields")
    assert Activity.objects.filter(title="English course for officers").count() == 1
    screenshot(page, "browser-02-created")

    # Import a file with one bad row: every problem listed, nothing written.
    page.goto(f"{base}/activities/import/")
    bad = import_file(tmp_path, "bad.csv", [imported("b-1"), imported("b-2", start_date="2018-02-30")])
    page.set_input_files("#id_file", str(bad))
    page.click("#import-form button[type=submit]")
    errors = page.inner_text("#import-errors")
    assert "3" in errors and "start_date" in errors and "is not a date" in errors
    assert page.locator("#commit-import").count() == 0
    assert not Activity.objects.filter(external_ref__startswith="b-").exists()
    screenshot(page, "browser-03-import-errors")

    # The corrected file: checked, then committed.
    good = import_file(tmp_path, "good.csv", [imported("b-1"), imported("b-2", start_date="2018-02-28")])
    page.set_input_files("#id_file", str(good))
    page.click("#import-form button[type=submit]")
    page.click("#commit-import")
    page.wait_for_selector("text=Import done: 2 created, 0 updated, 0 unchanged.")
    assert Activity.objects.filter(external_ref__startswith="b-").count() == 2

    # Filter as you type: htmx swaps the results and the URL keeps the state.
    assert "3 activities" in page.inner_text("#total")
    page.fill("#id_q", "clearance")
    # A locator wait, not wait_for_function: the page's CSP forbids evaluating strings.
    expect(page.locator("#total")).to_have_text(re.compile(r"^2 "))
    # Screen readers get the count from the status region (kept, filled out of band),
    # not the whole table read out again.
    expect(page.locator("#results-status")).to_have_text("2 activities match the filters.")
    assert page.locator("[role=status]#results-status").count() == 1
    assert page.get_attribute("#results", "aria-live") is None
    assert "q=clearance" in page.url
    assert "English course for officers" not in page.inner_text("#results")
    screenshot(page, "browser-04-filtered")
    page.reload()
    assert "2 activities" in page.inner_text("#total")  # the link reproduces the view

    # Export the filtered list.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    exported = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    assert exported.count("\n") == 3 and "Clearance b-1" in exported and "English course" not in exported


def officer_on_the_list(live_server: Any, page: Any, rows: tuple[tuple[str, str, int], ...]) -> None:
    """A desk officer of one relationship's desk, its activities (title, status, start month
    in 2017), signed in on the activity list."""
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    desk = DeskFactory(name="Eastern Europe", relationships=[relationship])
    UserFactory(username="officer", clearance=Classification.INTERNAL, desks=[desk])
    for title, status, month in rows:
        ActivityFactory(relationship=relationship, title=title, status=status, start_date=datetime.date(2017, month, 1))
    page.goto(f"{live_server.url}/activities/")
    page.fill("#id_username", "officer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/activities/")


def test_a_filter_change_keeps_the_sort_and_page_size_chosen_in_the_table(
    live_server: Any, page: Any, migrated_data: None
) -> None:
    """Sorting and page-size links swap only the results; the filter form, sent next, must
    still carry them, or the list jumps back to its default order and 25 rows."""
    # Newest first (the default order) is the reverse of the titles' order.
    officer_on_the_list(
        live_server, page, (("Alpha", "conducted", 3), ("Bravo", "conducted", 5), ("Charlie", "planned", 7))
    )

    page.click("#results a:has-text('50')")
    page.wait_for_url(re.compile(r"per_page=50"))
    page.click("#activity-table th a:has-text('Title')")  # boosted: only the results change
    page.wait_for_url(re.compile(r"sort=title"))
    expect(page.locator("#activity-table th.asc")).to_have_count(1)
    page.check("#activity-filters >> text=Conducted")
    expect(page.locator("#total")).to_have_text(re.compile(r"^2 "))

    assert "sort=title" in page.url and "per_page=50" in page.url
    titles = page.locator("#activity-table tbody tr td:nth-child(2)").all_inner_texts()
    assert [title.strip() for title in titles] == ["Alpha", "Bravo"]
    expect(page.locator("#results a.active:has-text('50')")).to_have_count(1)


def test_after_an_edit_the_breadcrumb_leads_back_to_the_list_as_filtered(
    live_server: Any, page: Any, migrated_data: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Filter and sort the list, open a row, edit and save it, then click "Activities": the
    list comes back with the same boxes ticked, the same order and the same rows."""
    rows = (("Alpha", "conducted", 3), ("Bravo", "conducted", 5), ("Charlie", "planned", 7), ("Delta", "conducted", 8))
    officer_on_the_list(live_server, page, rows)

    page.check("#activity-filters >> text=Conducted")
    expect(page.locator("#total")).to_have_text(re.compile(r"^3 "))
    page.click("#activity-table th a:has-text('Title')")
    page.wait_for_url(re.compile(r"sort=title"))
    expect(page.locator("#activity-table th.asc")).to_have_count(1)
    listed = page.locator("#activity-table tbody tr td:nth-child(2)")
    expect(listed).to_have_text(["Alpha", "Bravo", "Delta"])
    left = page.url
    # "New activity" and "Import" follow the filter (an htmx swap) and the sort (a boosted link) too.
    for button, url in (("New activity", "/activities/new/"), ("Import", "/activities/import/")):
        carries_the_list = re.compile(rf"^{url}\?back=(?=.*status%3Dconducted)(?=.*sort%3Dtitle)")
        expect(page.locator(f"#list-actions a:has-text('{button}')")).to_have_attribute("href", carries_the_list)

    page.click("#activity-table a:has-text('Bravo')")
    page.wait_for_url(re.compile(r"/activities/\d+/\?back="))
    page.click("main a.btn:text-is('Edit')")
    page.fill("#id_title", "Bravo in Minsk")
    page.click("#activity-form button[type=submit]")
    page.wait_for_selector("text=Activity “Bravo in Minsk” saved.")

    page.click("nav[aria-label=breadcrumb] >> text=Activities")
    page.wait_for_url(re.compile(r"/activities/\?"))
    assert page.url == left
    expect(page.locator("#activity-filters input[name=status][value=conducted]")).to_be_checked()
    expect(page.locator("#activity-filters input[name=status][value=planned]")).not_to_be_checked()
    expect(page.locator("#activity-table th.asc")).to_have_count(1)
    expect(listed).to_have_text(["Alpha", "Bravo in Minsk", "Delta"])
    # Every page names its icon: the browser never asks for a /favicon.ico to find none.
    assert "Not Found" not in caplog.text
