"""Every page a user reaches passes axe-core's WCAG 2.0 and 2.1 A and AA rules in headless
Chromium. Each page is opened by the role that works there, signed in through the forms
(the administrator with the second factor), and brought to the state a user sees — a filter
typed in, a form sent back with its errors, a chart drawn — before axe checks it.

axe-core is a development dependency from npm (package.json `devDependencies`): the test
evaluates `node_modules/axe-core/axe.min.js` in the page through the DevTools protocol, so
the app never serves it and the page's Content-Security-Policy stays as it is.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.models import User
from cooperation import intensity, services
from cooperation.bulk import IMPORT_COLUMNS
from cooperation.choices import AccreditationKind, Classification, Role
from cooperation.models import Accreditation, Activity, Attache, Post, Relationship
from tests.factories import (
    AccreditationFactory,
    ActivityFactory,
    AttacheFactory,
    DeskFactory,
    PostFactory,
    RelationshipFactory,
    UserFactory,
    area,
)
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

# second_factor: administrators must pass it, as in production (tests/conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.second_factor, pytest.mark.django_db(transaction=True)]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "correct-horse-battery"
# One row with an impossible date: the import page lists it as an error.
IMPORT_ROW = {"external_ref": "x-1", "state_a": "BY", "state_b": "US", "area": "demining", "title": "Clearance",
              "kind": "technical_assistance", "start_date": "2018-02-30"}  # fmt: skip


@dataclass
class Records:
    relationship: Relationship
    activity: Activity
    deleted: Activity
    accreditation: Accreditation
    attache: Attache
    post: Post


Go = Callable[[Any, str, Records], None]


@dataclass(frozen=True)
class Visit:
    """A page as a user reaches it: `user` signs in first (None: nobody, or `go` does),
    then `go` opens the page and brings it to the state checked. `exclude` holds the
    selectors of nodes axe must skip, each with the reason beside it; none so far."""

    name: str
    user: str | None
    go: Go
    exclude: tuple[str, ...] = ()


def records() -> Records:
    """A relationship on the officer's desk with a conducted activity in each area over the
    last months (the charts have bars and zeros) and a planned one ahead; an attaché resident
    in Kyiv and concurrently accredited to Belarus (a timeline); a change in the history; a
    deleted activity."""
    today = timezone.localdate()
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    desk = DeskFactory(name="Eastern Europe", relationships=[relationship])
    officer = UserFactory(username="officer", clearance=Classification.INTERNAL, desks=[desk])
    UserFactory(username="manager", role=Role.MANAGER, clearance=Classification.RESTRICTED)
    UserFactory(username="admin", role=Role.ADMIN, clearance=Classification.RESTRICTED, is_staff=True,
                is_superuser=True)  # fmt: skip
    post = PostFactory(name="US Embassy Kyiv", sending_country="US", host_country="UA", city="Kyiv")
    attache = AttacheFactory(name="Daniel Whitaker", sending_country="US")
    AccreditationFactory(attache=attache, post=post)
    accreditation = AccreditationFactory(
        attache=attache, post=post, host_country="BY", kind=AccreditationKind.CONCURRENT,
        requested_on=datetime.date(2016, 3, 14), agrement_on=datetime.date(2016, 5, 23),
        accredited_on=datetime.date(2016, 6, 8),
    )  # fmt: skip
    activities = []
    for step, code in enumerate(("peacekeeping", "education", "demining", "medicine")):
        start = intensity.add_months(intensity.month_of(today), -2 * step)
        activities.append(
            ActivityFactory(
                relationship=relationship,
                area=area(code),
                title=f"{code.capitalize()} course",
                start_date=start,
                end_date=start + datetime.timedelta(days=4),
                participants=12 + step,
                accreditation=accreditation if code == "demining" else None,
            )
        )
    ActivityFactory(relationship=relationship, title="English course for officers", status="planned",
                    start_date=today + datetime.timedelta(days=20))  # fmt: skip
    deleted = ActivityFactory(relationship=relationship, title="Cancelled seminar", deleted_at=timezone.now())
    activity = services.activity_update(
        actor=officer, activity=activities[0], data={"location": "Minsk"}, expected_version=activities[0].version
    )
    intensity.rebuild_rollups()
    return Records(relationship, activity, deleted, accreditation, attache, post)


# Signing in ----------------------------------------------------------------------------


def sign_in(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def totp_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def admin_device() -> TOTPDevice:
    return TOTPDevice.objects.create(user=User.objects.get(username="admin"), name="phone", confirmed=True)


def pass_second_factor(page: Any, base: str) -> None:
    device = admin_device()
    sign_in(page, base, "admin")
    page.wait_for_url(f"{base}/accounts/two-factor/verify/**")
    page.fill("#id_code", totp_code(device))
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/")


# What each page needs before it is checked ------------------------------------------------


def opens(path: str | Callable[[Records], str], shows: str | None = None) -> Go:
    """Open `path`; `shows`: a selector of what must be on the page (an error, a heading)."""

    def go(page: Any, base: str, data: Records) -> None:
        page.goto(base + (path(data) if callable(path) else path))
        if shows:
            expect(page.locator(shows).first).to_be_visible()

    return go


def activity_url(suffix: str = "") -> Callable[[Records], str]:
    return lambda data: f"/activities/{data.activity.pk}/{suffix}"


def accreditation_url(suffix: str = "") -> Callable[[Records], str]:
    return lambda data: f"/accreditations/{data.accreditation.pk}/{suffix}"


def sign_in_refused(page: Any, base: str, data: Records) -> None:
    sign_in(page, base, "officer", "not-the-password")
    expect(page.locator("main .alert-danger")).to_be_visible()


def locked_out(page: Any, base: str, data: Records) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(page, base, "officer", "not-the-password")
    expect(page.locator("h1")).to_have_text("Too many failed sign-ins")


def second_factor_verify(page: Any, base: str, data: Records) -> None:
    admin_device()
    sign_in(page, base, "admin")
    page.wait_for_url(f"{base}/accounts/two-factor/verify/**")


def second_factor_wrong_code(page: Any, base: str, data: Records) -> None:
    second_factor_verify(page, base, data)
    page.fill("#id_code", "12x456")
    page.click("main form button[type=submit]")
    expect(page.locator("#id_code_errors")).to_be_visible()


def second_factor_setup(page: Any, base: str, data: Records) -> None:
    sign_in(page, base, "admin")  # no device yet: an administrator must set one up first
    page.wait_for_url(f"{base}/accounts/two-factor/**")
    expect(page.locator("main img")).to_be_visible()


def activities_filtered(page: Any, base: str, data: Records) -> None:
    page.goto(f"{base}/activities/")
    page.fill("#id_q", "course")  # filtered as one types: htmx swaps the results in
    expect(page.locator("#total")).to_have_text("5 activities")
    page.check("#activity-filters input[name=status][value=conducted]")
    expect(page.locator("#total")).to_have_text("4 activities")


def activity_created(page: Any, base: str, data: Records) -> None:
    page.goto(f"{base}/activities/new/")
    page.select_option("#id_relationship", label="Belarus – United States")
    page.select_option("#id_area", label="Military education")
    page.fill("#id_title", "Staff course")
    page.select_option("#id_kind", "course")
    page.fill("#id_start_date", "2016-09-12")
    page.click("#activity-form button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("created")


def activity_already_created(page: Any, base: str, data: Records) -> None:
    """The form's one-time key sent again with other entries: the first save is named."""
    activity_created(page, base, data)
    key = str(Activity.objects.get(title="Staff course").idempotency_key)
    page.goto(f"{base}/activities/new/")
    page.locator("input[name=idempotency_key]").evaluate("(input, key) => { input.value = key; }", key)
    page.select_option("#id_relationship", label="Belarus – United States")
    page.select_option("#id_area", label="Military education")
    page.fill("#id_title", "Staff course, second group")
    page.select_option("#id_kind", "course")
    page.fill("#id_start_date", "2016-09-12")
    page.click("#activity-form button[type=submit]")
    expect(page.locator("#already-created")).to_be_visible()


def activity_form_with_errors(page: Any, base: str, data: Records) -> None:
    page.goto(f"{base}/activities/new/")
    page.fill("#id_title", "English course for officers")
    page.fill("#id_start_date", "2016-09-12")
    page.fill("#id_end_date", "2016-09-01")
    page.click("#activity-form button[type=submit]")
    expect(page.locator("#id_end_date_errors")).to_be_visible()


def accreditation_form_with_errors(page: Any, base: str, data: Records) -> None:
    page.goto(f"{base}/accreditations/new/")
    page.click("#accreditation-form button[type=submit]")
    expect(page.locator("#form-errors")).to_be_visible()


def import_with_errors(page: Any, base: str, data: Records) -> None:
    content = ",".join(IMPORT_COLUMNS) + "\n" + ",".join(IMPORT_ROW.get(column, "") for column in IMPORT_COLUMNS)
    page.goto(f"{base}/activities/import/")
    page.set_input_files("#id_file", {"name": "activities.csv", "mimeType": "text/csv", "buffer": content.encode()})
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-errors")).to_be_visible()


def token_issued(page: Any, base: str, data: Records) -> None:
    page.goto(f"{base}/accounts/tokens/")
    page.fill("#id_name", "Notebook")
    page.click("main form button:has-text('Issue token')")
    expect(page.locator("#new-key")).to_be_visible()


def token_form_with_errors(page: Any, base: str, data: Records) -> None:
    page.goto(f"{base}/accounts/tokens/")
    page.fill("#id_days", "0")
    page.click("main form button:has-text('Issue token')")
    expect(page.locator("#id_days_errors")).to_be_visible()


def dashboard(path: Callable[[Records], str], chart: str | None = None) -> Go:
    def go(page: Any, base: str, data: Records) -> None:
        page.goto(base + path(data))
        if chart:  # checked as drawn: dashboards.js sets data-rendered on the canvas
            expect(page.locator(f"#{chart}")).to_have_attribute("data-rendered", "intensity")
        else:
            expect(page.locator("#form-errors")).to_be_visible()

    return go


def relationship_dashboard(query: str = "") -> Callable[[Records], str]:
    return lambda data: f"/dashboard/relationships/{data.relationship.pk}/{query}"


# fmt: off
VISITS = [
    Visit("sign-in", None, opens("/accounts/login/")),
    Visit("sign-in-refused", None, sign_in_refused),
    Visit("sign-in-locked-out", None, locked_out),
    Visit("second-factor-verify", None, second_factor_verify),
    Visit("second-factor-wrong-code", None, second_factor_wrong_code),
    Visit("second-factor-setup", None, second_factor_setup),
    Visit("home-anonymous", None, opens("/")),
    Visit("home", "officer", opens("/")),
    Visit("activity-list", "officer", opens("/activities/")),
    Visit("activity-list-filtered", "officer", activities_filtered),
    Visit("activity-list-invalid-filter", "officer",
          opens("/activities/?start_date_after=2018-02-30", "#id_start_date_errors")),
    Visit("activity-detail", "officer", opens(activity_url())),
    Visit("activity-created", "officer", activity_created),
    Visit("activity-new", "officer", opens("/activities/new/")),
    Visit("activity-new-with-errors", "officer", activity_form_with_errors),
    Visit("activity-new-already-created", "officer", activity_already_created),
    Visit("activity-edit", "officer", opens(activity_url("edit/"))),
    Visit("activity-cancel", "officer", opens(activity_url("cancel/"))),
    Visit("activities-deleted", "officer", opens("/activities/deleted/", "text=Cancelled seminar")),
    Visit("activity-detail-deleted", "officer", opens(lambda data: f"/activities/{data.deleted.pk}/", "main .alert")),
    Visit("activity-import", "officer", opens("/activities/import/")),
    Visit("activity-import-with-errors", "officer", import_with_errors),
    Visit("accreditation-list", "officer", opens("/accreditations/?status=accredited")),
    Visit("accreditation-detail", "officer", opens(accreditation_url())),
    Visit("accreditation-request", "officer", opens("/accreditations/new/")),
    Visit("accreditation-request-with-errors", "officer", accreditation_form_with_errors),
    Visit("accreditation-edit", "officer", opens(accreditation_url("edit/"))),
    Visit("accreditation-end", "officer", opens(accreditation_url("end/"))),
    Visit("attache-detail", "officer", opens(lambda data: f"/attaches/{data.attache.pk}/")),
    Visit("dashboard-overview", "manager", opens("/dashboard/", "#cards .relationship-card")),
    Visit("dashboard-overview-with-errors", "manager", dashboard(lambda data: "/dashboard/?as_of=2018-02-30")),
    Visit("dashboard-relationship", "manager", dashboard(relationship_dashboard(), "relationship-chart")),
    Visit("dashboard-relationship-by-month", "manager",
          dashboard(relationship_dashboard("?granularity=month"), "relationship-chart")),
    Visit("dashboard-relationship-with-errors", "manager",
          dashboard(relationship_dashboard("?start=2019-01-01&end=2018-01-01"))),
    Visit("dashboard-comparison", "manager", dashboard(lambda data: "/dashboard/comparison/", "comparison-chart")),
    Visit("dashboard-comparison-with-errors", "manager", dashboard(lambda data: "/dashboard/comparison/?a=2018-02-30")),
    Visit("api-tokens", "manager", token_issued),
    Visit("api-tokens-with-errors", "manager", token_form_with_errors),
    Visit("password-change", "officer", opens("/accounts/password/")),
    Visit("not-found", "officer", opens("/activities/999999/", "h1:text-is('Not found')")),
    Visit("forbidden", "manager", opens("/activities/new/", "h1:text-is('Not allowed')")),
    # Posts and the full history of a record are kept in the admin (with the second factor).
    Visit("admin-post-with-history", "admin", opens(lambda data: f"/admin/cooperation/post/{data.post.pk}/change/")),
    Visit("admin-activity-history", "admin",
          opens(lambda data: f"/admin/cooperation/activity/{data.activity.pk}/history/")),
]
# fmt: on


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """conftest's Chromium, started once for the module's pages (each still gets a fresh
    context from `page`): Django's synchronous ORM is allowed while Playwright's event loop
    runs, and the connections opened under it are closed before the test database goes."""
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()
        connections.close_all()


def run_axe(page: Any, exclude: tuple[str, ...]) -> list[dict[str, Any]]:
    assert AXE.exists(), f"{AXE} is missing: run `npm ci --include=dev` (axe-core is a devDependency)"
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's script-src 'self' does not apply.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        """async ([exclude, tags]) => {
            const context = {include: [document], exclude: exclude.map((selector) => [selector])};
            const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]};
            const result = await axe.run(context, options);
            return result.violations.map((rule) => ({
                id: rule.id, impact: rule.impact, help: rule.help, helpUrl: rule.helpUrl,
                nodes: rule.nodes.map((node) => ({target: node.target.join(" "), summary: node.failureSummary})),
            }));
        }""",
        [list(exclude), WCAG_TAGS],
    )


def describe(violations: list[dict[str, Any]], name: str, url: str) -> str:
    """One line per rule (id, impact, what it asks, where it is explained), then one per
    node: its selector and the first reason of each part of axe's failure summary."""
    nodes = sum(len(rule["nodes"]) for rule in violations)
    lines = [f"{name} ({url}): {nodes} node(s) break {len(violations)} WCAG 2.1 A/AA rule(s)"]
    for rule in violations:
        lines.append(f"  {rule['id']} [{rule['impact']}] {rule['help']} — {rule['helpUrl'].split('?')[0]}")
        for node in rule["nodes"]:
            parts = (node["summary"] or "").split("\n\n")
            reasons = [part.splitlines()[1].strip() for part in parts if len(part.splitlines()) > 1]
            lines.append(f"    {node['target']}: {'; '.join(reasons)}")
    return "\n".join(lines)


@pytest.mark.parametrize("visit", VISITS, ids=[visit.name for visit in VISITS])
def test_page_has_no_wcag_a_or_aa_violation(
    visit: Visit, live_server: Any, page: Any, migrated_data: None, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    data = records()
    base = live_server.url
    if visit.user == "admin":
        pass_second_factor(page, base)
    elif visit.user:
        sign_in(page, base, visit.user)
    visit.go(page, base, data)
    assert visit.user is None or "/accounts/login/" not in page.url, f"{visit.user} is not signed in"
    violations = run_axe(page, visit.exclude)
    assert not violations, describe(violations, visit.name, page.url)


# Non-text contrast ---------------------------------------------------------------------
# axe checks the contrast of text only. WCAG 1.4.11 asks 3:1 for what identifies a control:
# a text box or a select is drawn by its border alone.

_CONTROLS = (
    "main input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=submit]), main select, "
    "main textarea, main .form-check-input"
)


def _luminance(rgb: str) -> float:
    channels = [int(part) / 255 for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two opaque CSS colours written `rgb(r, g, b)`."""
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_helper_matches_wcag() -> None:
    assert contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)") == pytest.approx(21.0)
    assert contrast("rgb(222, 226, 230)", "rgb(255, 255, 255)") == pytest.approx(1.30, abs=0.01)  # Bootstrap's
    assert contrast("rgb(108, 117, 125)", "rgb(255, 255, 255)") == pytest.approx(4.69, abs=0.01)  # gray-600


@pytest.mark.parametrize("path", ["/activities/new/", "/activities/"])
def test_form_controls_are_outlined_at_three_to_one(
    path: str, live_server: Any, page: Any, migrated_data: None
) -> None:
    records()
    sign_in(page, live_server.url, "officer")
    page.goto(f"{live_server.url}{path}")
    controls = page.eval_on_selector_all(
        _CONTROLS,
        """(nodes) => nodes.filter((node) => node.offsetParent !== null).map((node) => ({
            name: node.id || node.name, border: getComputedStyle(node).borderTopColor,
        }))""",
    )
    assert len(controls) >= 5, controls
    background = "rgb(255, 255, 255)"  # the page's and the cards' background
    weak = [(c["name"], c["border"]) for c in controls if contrast(c["border"], background) < 3]
    assert weak == [], f"borders under 3:1 against white: {weak}"


def test_invalid_and_focused_controls_keep_their_own_borders(live_server: Any, page: Any, migrated_data: None) -> None:
    """The darker default border does not hide the states Bootstrap colours."""
    data = records()
    sign_in(page, live_server.url, "officer")
    activity_form_with_errors(page, live_server.url, data)
    assert page.eval_on_selector("#id_end_date", "(node) => getComputedStyle(node).borderTopColor") == (
        "rgb(220, 53, 69)"  # Bootstrap's danger red on .is-invalid
    )
    page.focus("#id_title")
    # Bootstrap fades the border in (0.15 s): the assertion waits for the end of it.
    expect(page.locator("#id_title")).to_have_css("border-top-color", "rgb(134, 183, 254)")  # focus blue
