"""The monthly digest: each manager's figures (up to their clearance) by e-mail with an XLSX
attachment, at most once per manager and month; the beat task and the admin's "send now"."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse

from cooperation import intensity, tasks
from cooperation.choices import ActivityLevel, ActivityStatus, Classification, Role
from cooperation.digests import build_digest, digest_send, digests_schedule
from cooperation.models import DigestSend
from tests.conftest import World
from tests.factories import ActivityFactory, RelationshipFactory, UserFactory, area

D = datetime.date
pytestmark = pytest.mark.django_db
OCTOBER = D(2017, 10, 1)
SCORE = Decimal("4.082785")  # working level, 10 participants, one day


@pytest.fixture
def managers(world: World) -> dict[str, Any]:
    """October 2017 on desk A: two conducted (public, restricted), one planned; September: one;
    October 2016: one. Desk B: one conducted in October. Two managers with e-mail addresses."""
    rel_a, rel_b = world.rel_a, world.rel_b
    ActivityFactory(relationship=rel_a, start_date=D(2017, 10, 3), releasability=Classification.PUBLIC)
    ActivityFactory(
        relationship=rel_a, area=area("medicine"), start_date=D(2017, 10, 30), releasability=Classification.RESTRICTED
    )
    ActivityFactory(relationship=rel_a, start_date=D(2017, 10, 18), status=ActivityStatus.PLANNED)
    ActivityFactory(relationship=rel_a, start_date=D(2017, 9, 12), level=ActivityLevel.SENIOR)
    ActivityFactory(relationship=rel_a, start_date=D(2016, 10, 12))
    ActivityFactory(relationship=rel_b, start_date=D(2017, 10, 9), releasability=Classification.INTERNAL)
    RelationshipFactory(state_a="EE", state_b="LV")  # nothing ever
    intensity.rebuild_rollups()
    return {
        "boss": UserFactory(
            username="boss", role=Role.MANAGER, clearance=Classification.RESTRICTED, email="boss@example.org"
        ),
        "analyst": UserFactory(
            username="analyst", role=Role.MANAGER, clearance=Classification.INTERNAL, email="analyst@example.org"
        ),
    }


def rows_by_label(digest: Any) -> dict[str, Any]:
    return {row.label: row for row in digest.rows}


def test_digest_holds_the_month_against_the_month_before_and_a_year_before(managers: dict[str, Any]) -> None:
    digest = build_digest(recipient=managers["boss"], month=D(2017, 10, 17))
    assert (digest.month, digest.month_label) == (OCTOBER, "October 2017")
    rows = rows_by_label(digest)
    belarus = rows["Belarus – United States"]
    assert (belarus.month.count, belarus.previous.count, belarus.year_ago.count) == (2, 1, 1)
    assert (belarus.month.intensity, belarus.month.breadth, belarus.month.pipeline) == (2 * SCORE, 2, 1)
    assert belarus.flag == "rising"  # 8.17 against a 12-month average of (4.08 + 3 × 4.08 + 6.12) / 12
    assert rows["Cuba – United States"].month.count == 1
    assert (digest.count, digest.pipeline) == (3, 1)
    assert [row.label for row in digest.active_rows] == ["Belarus – United States", "Cuba – United States"]
    assert digest.quiet_count == 1


def test_digest_leaves_out_what_is_above_the_recipients_clearance(managers: dict[str, Any]) -> None:
    boss = rows_by_label(build_digest(recipient=managers["boss"], month=OCTOBER))["Belarus – United States"]
    analyst = rows_by_label(build_digest(recipient=managers["analyst"], month=OCTOBER))["Belarus – United States"]
    assert (boss.month.count, analyst.month.count) == (2, 1)
    assert (boss.month.breadth, analyst.month.breadth) == (2, 1)


def test_digest_is_read_in_a_bounded_number_of_queries(
    managers: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    for _ in range(20):
        ActivityFactory(relationship=RelationshipFactory(), start_date=D(2017, 10, 2))
    intensity.rebuild_rollups()
    with django_assert_max_num_queries(4):
        digest = build_digest(recipient=managers["boss"], month=OCTOBER)
    assert len(digest.rows) == 23


def sent_workbook(message: EmailMultiAlternatives) -> Any:
    [(name, content, mimetype)] = message.attachments
    assert name == "attache-digest-2017-10.xlsx"
    assert mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(content), read_only=True)


def test_sending_mails_html_text_and_a_workbook_once(managers: dict[str, Any], settings: Any) -> None:
    settings.SITE_URL = "https://attache.example.org"
    boss = managers["boss"]
    record = digest_send(recipient=boss, month=OCTOBER)
    assert record is not None and (record.email, record.relationships, record.triggered_by) == (
        "boss@example.org", 3, None,
    )  # fmt: skip
    [message] = mail.outbox
    assert message.subject == "Attaché digest: cooperation in October 2017"
    assert message.to == ["boss@example.org"] and message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "3 conducted activities, intensity 12.25, 1 planned or confirmed" in message.body
    assert "Belarus – United States | 2 (1, 1) | 8.17 | 2 | 1 | rising" in message.body
    assert "Rising against the 12-month average: Belarus – United States" in message.body
    assert "1 relationship without activity or trend this month is in the attached workbook" in message.body
    assert "https://attache.example.org/dashboard/" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "<strong>3</strong> conducted activities" in html and "Cuba – United States" in html
    assert "Estonia – Latvia" not in html  # quiet: in the workbook only
    workbook = sent_workbook(message)
    sheet = list(workbook["Figures"].iter_rows(values_only=True))
    assert sheet[0][:5] == (
        "Relationship",
        "Conducted",
        "Conducted the month before",
        "Conducted a year before",
        "Intensity",
    )
    figures = {row[0]: row for row in sheet[1:]}
    assert figures["Belarus – United States"][1:8] == (2, 1, 1, float(2 * SCORE), 2, 1, "rising")
    assert figures["Estonia – Latvia"][1:7] == (0, 0, 0, 0, 0, 0)
    about = dict(row for row in workbook["About"].iter_rows(values_only=True))
    assert (about["Month"], about["Clearance"]) == ("October 2017", "Restricted")
    # The same month again: nothing is sent.
    assert digest_send(recipient=boss, month=OCTOBER) is None
    assert len(mail.outbox) == 1 and DigestSend.objects.filter(recipient=boss).count() == 1


def test_a_lower_clearance_gets_smaller_figures_by_mail(managers: dict[str, Any]) -> None:
    digest_send(recipient=managers["analyst"], month=OCTOBER)
    [message] = mail.outbox
    assert "2 conducted activities" in message.body
    assert "Belarus – United States | 1 (1, 1) | 4.08 | 1 | 1" in message.body
    figures = {row[0]: row for row in sent_workbook(message)["Figures"].iter_rows(values_only=True)}
    assert figures["Belarus – United States"][1] == 1
    about = dict(row for row in sent_workbook(message)["About"].iter_rows(values_only=True))
    assert about["Clearance"] == "Internal"


def test_a_failed_send_records_nothing_so_a_retry_sends(managers: dict[str, Any], monkeypatch: Any) -> None:
    def refuse(self: Any, fail_silently: bool = False) -> int:
        raise ConnectionRefusedError("mail server down")

    with monkeypatch.context() as patch:
        patch.setattr(EmailMultiAlternatives, "send", refuse)
        with pytest.raises(ConnectionRefusedError):
            digest_send(recipient=managers["boss"], month=OCTOBER)
    assert not DigestSend.objects.exists() and mail.outbox == []
    assert digest_send(recipient=managers["boss"], month=OCTOBER) is not None
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("change", "month", "message"),
    [
        ({"role": Role.DESK_OFFICER}, OCTOBER, "Digests go to active managers only."),
        ({"is_active": False}, OCTOBER, "Digests go to active managers only."),
        ({"email": ""}, OCTOBER, "has no e-mail address"),
        ({}, D(2017, 10, 2), "give its first day"),
        ({}, D(2199, 1, 1), "Only a month that has ended"),
    ],
)
def test_wrong_recipients_and_months_are_refused(
    managers: dict[str, Any], change: dict[str, Any], month: D, message: str
) -> None:
    boss = managers["boss"]
    for name, value in change.items():
        setattr(boss, name, value)
    boss.save()
    with pytest.raises(ValidationError, match=message):
        digest_send(recipient=boss, month=month)
    assert mail.outbox == [] and not DigestSend.objects.exists()


def test_the_running_month_is_refused_and_the_one_before_is_not(managers: dict[str, Any], pin_today: Any) -> None:
    pin_today(D(2017, 11, 1))  # November has only begun
    with pytest.raises(ValidationError, match="Only a month that has ended"):
        digest_send(recipient=managers["boss"], month=D(2017, 11, 1))
    with pytest.raises(ValidationError, match="Only a month that has ended"):
        digests_schedule(month=D(2017, 11, 1))
    assert mail.outbox == [] and not DigestSend.objects.exists()
    assert digest_send(recipient=managers["boss"], month=OCTOBER) is not None
    assert [message.to for message in mail.outbox] == [["boss@example.org"]]


def test_schedule_queues_every_manager_still_waiting(
    managers: dict[str, Any], world: World, django_capture_on_commit_callbacks: Any
) -> None:
    digest_send(recipient=managers["analyst"], month=OCTOBER)
    mail.outbox.clear()
    UserFactory(username="gone", role=Role.MANAGER, is_active=False, email="gone@example.org")  # never queued
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        scheduled = digests_schedule(month=OCTOBER, actor=world.admin)
    assert (scheduled.queued, scheduled.already_sent, len(callbacks)) == (1, 1, 1)
    assert [message.to for message in mail.outbox] == [["boss@example.org"]]  # the world's manager has no address
    assert DigestSend.objects.get(recipient=managers["boss"]).triggered_by == world.admin
    with pytest.raises(PermissionDenied):
        digests_schedule(month=OCTOBER, actor=world.officer_a)


def test_monthly_task_sends_the_previous_month_by_default(
    managers: dict[str, Any], django_capture_on_commit_callbacks: Any, pin_today: Any
) -> None:
    pin_today(D(2026, 12, 1))  # the first of the month, as the beat schedule runs it
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.send_monthly_digests.delay().get()
    expected = D(2026, 11, 1)
    assert result == {"month": expected.isoformat(), "queued": 2, "already_sent": 0}
    assert sorted(DigestSend.objects.values_list("recipient__username", "month")) == [
        ("analyst", expected), ("boss", expected),
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        again = tasks.send_monthly_digests.delay(OCTOBER.isoformat()).get()
    with django_capture_on_commit_callbacks(execute=True):
        repeat = tasks.send_monthly_digests.delay(OCTOBER.isoformat()).get()
    assert (again["queued"], repeat["queued"], repeat["already_sent"]) == (2, 0, 2)
    assert len(mail.outbox) == 4


def test_digest_task_skips_users_who_can_no_longer_receive_it(managers: dict[str, Any]) -> None:
    boss = managers["boss"]
    assert tasks.send_digest.delay(boss.pk, OCTOBER.isoformat()).get() is True
    assert tasks.send_digest.delay(boss.pk, OCTOBER.isoformat()).get() is False  # sent already
    boss.role = Role.DESK_OFFICER
    boss.save()
    assert tasks.send_digest.delay(boss.pk, "2017-09-01").get() is False
    assert tasks.send_digest.delay(987654, "2017-09-01").get() is False
    assert len(mail.outbox) == 1


def test_beat_sends_the_digest_on_the_first_of_each_month() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["digest-monthly"]
    assert entry["task"] == "cooperation.tasks.send_monthly_digests"
    schedule = entry["schedule"]
    assert (schedule.day_of_month, schedule.hour, schedule.minute) == ({1}, {6}, {0})


# Admin -----------------------------------------------------------------------------------------


def admin_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_sends_now_to_the_managers_still_waiting(
    managers: dict[str, Any], world: World, django_capture_on_commit_callbacks: Any, pin_today: Any
) -> None:
    pin_today(D(2027, 1, 14))
    client = admin_client(world.admin)
    changelist = client.get(reverse("admin:cooperation_digestsend_changelist")).content.decode()
    assert 'id="digest-send-now"' in changelist
    form = client.get(reverse("admin:cooperation_digestsend_send_now"))
    assert form.status_code == 200 and 'value="2026-12"' in form.content.decode()  # the month before
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:cooperation_digestsend_send_now"), {"month": "2017-10"}, follow=True)
    assert "Digest of October 2017: sending to 2 manager(s); 0 had it already." in response.content.decode()
    assert sorted(message.to[0] for message in mail.outbox) == ["analyst@example.org", "boss@example.org"]
    log = client.get(reverse("admin:cooperation_digestsend_changelist")).content.decode()
    assert "boss@example.org" in log and "analyst@example.org" in log
    assert set(DigestSend.objects.values_list("triggered_by", flat=True)) == {world.admin.pk}


@pytest.mark.parametrize(("month", "message"), [("2017-13", "Enter a valid date."), ("2199-01", "Only a month")])
def test_admin_send_now_refuses_a_wrong_month(managers: dict[str, Any], world: World, month: str, message: str) -> None:
    response = admin_client(world.admin).post(reverse("admin:cooperation_digestsend_send_now"), {"month": month})
    assert response.status_code == 200 and message in response.content.decode()
    assert mail.outbox == [] and not DigestSend.objects.exists()


def test_only_administrators_may_send_now(managers: dict[str, Any]) -> None:
    staff = UserFactory(role=Role.MANAGER, is_staff=True)
    response = admin_client(staff).post(reverse("admin:cooperation_digestsend_send_now"), {"month": "2017-10"})
    assert response.status_code == 403
    assert mail.outbox == []
