"""Security events, session timeouts, deactivation and the security headers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import InternalError, transaction
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import SecurityEvent, SecurityEventKind, UserSession
from accounts.services import token_issue, user_deactivate
from cooperation.selectors import history_for
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra: str) -> None:
    client.post(reverse("accounts:login"), {"username": username, "password": password}, **extra)  # type: ignore[arg-type]


def test_sign_in_and_failure_are_recorded_with_ip_and_outcome(world: World) -> None:
    client = Client(REMOTE_ADDR="198.51.100.7")
    sign_in(client, "admin", "wrong-password")
    sign_in(client, "admin")
    failed, succeeded = SecurityEvent.objects.order_by("id")
    assert (failed.kind, failed.success, failed.username, failed.ip) == (
        SecurityEventKind.SIGN_IN_FAILED,
        False,
        "admin",
        "198.51.100.7",
    )
    assert (succeeded.kind, succeeded.success, succeeded.user, succeeded.ip) == (
        SecurityEventKind.SIGN_IN,
        True,
        world.admin,
        "198.51.100.7",
    )


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_recorded_ip_ignores_forged_forwarded_entries(world: World) -> None:
    client = Client(REMOTE_ADDR="10.0.0.1")
    sign_in(client, "admin", "wrong", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.50")
    assert SecurityEvent.objects.get().ip == "203.0.113.50"


def test_permission_denied_is_recorded(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    response = client.get(reverse("admin:cooperation_activity_delete", args=[world.activities["a_public"].pk]))
    assert response.status_code == 403
    event = SecurityEvent.objects.get(kind=SecurityEventKind.PERMISSION_DENIED)
    assert (event.user, event.success) == (world.admin, False)
    assert event.path.endswith("/delete/")


@override_settings(AXES_FAILURE_LIMIT=2)
def test_lockout_is_recorded(world: World) -> None:
    client = Client(REMOTE_ADDR="198.51.100.8")
    for _ in range(3):
        sign_in(client, "officer_a", "wrong")
    lockout = SecurityEvent.objects.filter(kind=SecurityEventKind.LOCKOUT).first()
    assert lockout is not None
    assert (lockout.username, lockout.ip, lockout.success) == ("officer_a", "198.51.100.8", False)


def test_password_change_is_recorded(world: World) -> None:
    client = Client()
    client.force_login(world.officer_a)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-brand-new-passphrase-2026",
            "new_password2": "a-brand-new-passphrase-2026",
        },
    )
    assert response.status_code == 302
    event = SecurityEvent.objects.get(kind=SecurityEventKind.PASSWORD_CHANGED)
    assert event.user == world.officer_a


def test_security_events_cannot_be_rewritten(world: World) -> None:
    client = Client()
    sign_in(client, "admin", "wrong")
    with pytest.raises(InternalError), transaction.atomic():
        SecurityEvent.objects.update(success=True)
    with pytest.raises(InternalError), transaction.atomic():
        SecurityEvent.objects.all().delete()
    assert SecurityEvent.objects.get().success is False


@override_settings(SESSION_IDLE_TIMEOUT=300)
def test_idle_session_is_signed_out(world: World) -> None:
    client = Client()
    sign_in(client, "admin")
    assert client.get(reverse("admin:index")).status_code == 200
    session = client.session
    session["last_seen"] = int(time.time()) - 301
    session.save()
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    expired = SecurityEvent.objects.get(kind=SecurityEventKind.SESSION_EXPIRED)
    assert expired.detail == {"reason": "idle"}


@override_settings(SESSION_ABSOLUTE_TIMEOUT=3600)
def test_session_ends_after_the_absolute_timeout_even_when_busy(world: World) -> None:
    client = Client()
    sign_in(client, "admin")
    session = client.session
    session["signed_in_at"] = int(time.time()) - 3601
    session.save()
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert SecurityEvent.objects.get(kind=SecurityEventKind.SESSION_EXPIRED).detail == {"reason": "absolute"}


def test_deactivating_a_user_ends_all_their_sessions_at_once(world: World) -> None:
    browsers = [Client(), Client()]
    for browser in browsers:
        sign_in(browser, "officer_a")
    other = Client()
    sign_in(other, "admin")
    assert Session.objects.count() == 3
    token, _ = token_issue(user=world.officer_a, name="notebook", days=30)
    user_deactivate(actor=world.admin, user=world.officer_a)
    assert Session.objects.count() == 1
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = SecurityEvent.objects.get(kind=SecurityEventKind.USER_DEACTIVATED)
    assert event.detail == {"target": "officer_a", "sessions_ended": 2, "tokens_revoked": 1}
    revoked = SecurityEvent.objects.get(kind=SecurityEventKind.TOKEN_REVOKED)
    assert (revoked.user, revoked.detail["owner"]) == (world.admin, "officer_a")
    assert other.get(reverse("admin:index")).status_code == 200


def test_a_session_that_changed_its_password_still_ends_on_deactivation(world: World) -> None:
    """Changing the password gives the session a new key; deactivation must still find it,
    or the session comes back when the user is reactivated."""
    browser = Client()
    sign_in(browser, "officer_a")
    new_password = "a-brand-new-passphrase-2026"
    changed = browser.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert changed.status_code == 302
    assert UserSession.objects.get(user=world.officer_a).session_key == browser.session.session_key
    user_deactivate(actor=world.admin, user=world.officer_a)
    assert not Session.objects.exists()
    world.officer_a.is_active = True
    world.officer_a.save(update_fields=["is_active"])
    response = browser.get("/activities/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def deactivate_in_the_admin(admin: Any, target: Any) -> Client:
    """Untick "active" on `target`'s admin change form, signed in as `admin`."""
    admin_client = Client()
    admin_client.force_login(admin)
    url = reverse("admin:accounts_user_change", args=[target.pk])
    loaded = admin_client.get(url).context["adminform"].form.initial["loaded_state"]
    form = {
        "loaded_state": loaded,  # the state the change form was opened from
        "username": target.username,
        "role": target.role,
        "clearance": target.clearance,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }  # is_active left out: unchecked
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return admin_client


def test_deactivating_in_the_admin_ends_sessions(world: World) -> None:
    target = UserFactory(username="leaver")
    browser = Client()
    sign_in(browser, "leaver")
    assert Session.objects.count() == 1
    admin_client = deactivate_in_the_admin(world.admin, target)
    target.refresh_from_db()
    assert not target.is_active
    assert not Session.objects.exclude(session_key=admin_client.session.session_key).exists()


def test_deactivating_in_the_admin_labels_the_user_change_and_the_revocation_apart(world: World) -> None:
    """The admin's save of the user and `token_revoke` run in one request: the user's event
    is not labelled as a token revocation, the token's is, and both name the admin."""
    target = UserFactory(username="leaver")
    token, _ = token_issue(user=target, name="notebook", days=30)
    deactivate_in_the_admin(world.admin, target)
    user_change = history_for(target)[0]
    assert (user_change.label, user_change.action, user_change.user) == ("update", "", world.admin)
    assert ("active", True, False) in user_change.changes
    revocation = history_for(token)[0]
    assert (revocation.label, revocation.action, revocation.user) == ("update", "token.revoke", world.admin)


def test_pages_carry_a_content_security_policy_without_inline_script(db: None) -> None:
    response = Client().get("/")
    policy = response["Content-Security-Policy"]
    script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'"]
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_admins_list_security_events_but_cannot_add_change_or_delete_them(world: World) -> None:
    from cooperation.models import TaskFailure

    event = SecurityEvent.objects.create(kind=SecurityEventKind.SIGN_IN_FAILED, success=False, username="x")
    failure = TaskFailure.objects.create(task_name="cooperation.tasks.drain_intensity_outbox", exception="E")
    client = Client()
    client.force_login(world.admin)
    listing = client.get(reverse("admin:accounts_securityevent_changelist"))
    assert listing.status_code == 200 and "sign" in listing.content.decode().lower()
    assert client.get(reverse("admin:accounts_securityevent_add")).status_code == 403
    assert client.post(reverse("admin:accounts_securityevent_add"), {"kind": "sign_in"}).status_code == 403
    delete = client.post(reverse("admin:accounts_securityevent_delete", args=[event.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert SecurityEvent.objects.filter(pk=event.pk).exists()
    assert not SecurityEvent.objects.filter(kind="sign_in", username="").exists()
    # A handled task failure, on the other hand, may be cleared.
    cleared = client.post(reverse("admin:cooperation_taskfailure_delete", args=[failure.pk]), {"post": "yes"})
    assert cleared.status_code == 302
    assert not TaskFailure.objects.filter(pk=failure.pk).exists()
    assert client.get(reverse("admin:cooperation_taskfailure_add")).status_code == 403


def _not_stored(response: object) -> bool:
    directives = {part.strip() for part in response["Cache-Control"].split(",")}  # type: ignore[index]
    return {"no-store", "private"} <= directives


def test_responses_with_restricted_data_are_not_stored_by_browsers_or_proxies(world: World) -> None:
    """Records, exports, dashboards, API answers, a new second-factor key and a freshly issued token key must not
    stay in a shared proxy or the browser's disk cache after the user has gone."""
    browser = Client()
    browser.force_login(world.manager)
    activity = world.activities["a_internal"]
    for url in (
        "/activities/",
        f"/activities/{activity.pk}/",
        reverse("workspace:activity_export_csv"),
        reverse("dashboards:overview"),
        "/api/v1/activities/",
        f"/api/v1/activities/{activity.pk}/",
        "/api/v1/activities/?format=csv",
        reverse("accounts:two_factor"),  # shows a new device's secret key
    ):
        response = browser.get(url)
        assert response.status_code == 200, url
        assert _not_stored(response), (url, response.get("Cache-Control"))
    issued = browser.post(reverse("api-tokens"), {"name": "notebook", "days": "5"})
    assert "notebook" in issued.content.decode() and _not_stored(issued)
    key = issued.context["new_key"]
    by_token = Client().get("/api/v1/activities/", HTTP_AUTHORIZATION=f"Token {key}")
    assert activity.title in by_token.content.decode()
    assert _not_stored(by_token)
    # Public pages are not affected.
    assert "no-store" not in Client().get("/").get("Cache-Control", "")
