"""TOTP second factor: admins must use it, others may; unverified sessions are held."""

from __future__ import annotations

import base64
import datetime
import re
import time
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SecurityEvent, SecurityEventKind, UserSession
from accounts.two_factor import _confirm
from tests.concurrency import hold_open
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.second_factor]
# pghistory puts its context in front of a write ("SELECT set_config(…); INSERT …").
WRITE = re.compile(r'\b(INSERT INTO|UPDATE "|DELETE FROM)')


def code_for(device: TOTPDevice, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def key_of(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode("ascii")


def signed_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # password done; the second factor is what is tested here
    return client


def test_an_admin_without_a_device_must_set_one_up_first(world: World) -> None:
    client = signed_in(world.admin)
    response = client.get("/activities/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:two_factor"))
    assert client.get(reverse("admin:index")).status_code == 302
    page = client.get(reverse("accounts:two_factor"))
    body = page.content.decode()
    assert "Administrators must set up a second factor" in body
    assert "data:image/svg+xml;base64," in body
    device = TOTPDevice.objects.get(user=world.admin, confirmed=False)
    response = client.post(reverse("accounts:two_factor"), {"code": code_for(device), "next": "/activities/"})
    assert response.status_code == 302 and response["Location"] == "/activities/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_wrong_code_is_refused_and_recorded(world: World) -> None:
    client = signed_in(world.admin)
    client.get(reverse("accounts:two_factor"))
    device = TOTPDevice.objects.get(user=world.admin)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("accounts:two_factor"), {"code": wrong})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    event = SecurityEvent.objects.get(kind=SecurityEventKind.SECOND_FACTOR_FAILED)
    assert (event.user, event.success) == (world.admin, False)


def test_reloading_the_setup_page_keeps_one_pending_device_and_its_key(world: World) -> None:
    client = signed_in(world.manager)
    keys = {client.get(reverse("accounts:two_factor")).context["key"]}
    with CaptureQueriesContext(connection) as reloads:
        keys |= {client.get(reverse("accounts:two_factor")).context["key"] for _ in range(3)}
    assert len(keys) == 1
    assert TOTPDevice.objects.filter(user=world.manager).count() == 1
    assert not [query["sql"] for query in reloads if WRITE.search(query["sql"])]
    # Moving a confirmed device to another phone: one pending device beside it, however often reloaded.
    device = TOTPDevice.objects.get(user=world.manager)
    client.post(reverse("accounts:two_factor"), {"code": code_for(device)})
    replace = f"{reverse('accounts:two_factor')}?replace=1"
    assert len({client.get(replace).context["key"] for _ in range(3)}) == 1
    assert TOTPDevice.objects.filter(user=world.manager, confirmed=False).count() == 1
    assert list(TOTPDevice.objects.filter(user=world.manager, confirmed=True)) == [device]


def test_a_key_shown_to_one_session_is_never_the_one_another_session_confirms(world: World) -> None:
    """Someone who had the password and opened the page earlier must not learn the key the
    owner later sets up."""
    earlier = signed_in(world.manager)
    seen = earlier.get(reverse("accounts:two_factor")).context["key"]
    owner = signed_in(world.manager)
    shown = owner.get(reverse("accounts:two_factor")).context["key"]
    assert shown != seen
    device = next(device for device in TOTPDevice.objects.filter(user=world.manager) if key_of(device) == shown)
    assert owner.post(reverse("accounts:two_factor"), {"code": code_for(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    # The earlier session's page now confirms nothing: its pending device went with the confirmation.
    refused = earlier.post(reverse("accounts:two_factor"), {"code": code_for(device)})
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert list(TOTPDevice.objects.filter(user=world.manager, confirmed=True)) == [device]


def test_another_session_opening_the_setup_page_leaves_the_owners_setup_alone(world: World, settings: Any) -> None:
    """Someone with the password opening the page must not restart the owner's setup (the
    code from the owner's app would then fail): each session has its own pending device,
    confirms only that one, and the first confirmation removes the others."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a refused code may be followed at once by the right one
    setup = reverse("accounts:two_factor")
    owner = signed_in(world.manager)
    owner_key = owner.get(setup).context["key"]
    other = signed_in(world.manager)
    other_key = other.get(setup).context["key"]
    assert other_key != owner_key
    assert owner.get(setup).context["key"] == owner_key
    devices = {key_of(device): device for device in TOTPDevice.objects.filter(user=world.manager, confirmed=False)}
    assert set(devices) == {owner_key, other_key}
    owner_device, other_device = devices[owner_key], devices[other_key]
    for client, foreign in ((owner, other_device), (other, owner_device)):
        refused = client.post(setup, {"code": code_for(foreign)})
        assert refused.status_code == 200 and "That code is not right" in refused.content.decode()
    assert not TOTPDevice.objects.filter(user=world.manager, confirmed=True).exists()

    response = owner.post(setup, {"code": code_for(owner_device), "next": "/activities/"})
    assert response.status_code == 302 and response["Location"] == "/activities/"
    assert [(device.pk, device.confirmed) for device in TOTPDevice.objects.filter(user=world.manager)] == [
        (owner_device.pk, True)
    ]
    assert owner.get("/activities/").status_code == 200
    late = other.post(setup, {"code": code_for(other_device)})
    assert late.status_code == 302 and late["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert list(TOTPDevice.objects.filter(user=world.manager)) == [owner_device]


def test_pending_devices_older_than_a_session_can_live_are_removed(world: World) -> None:
    """A session lives at most SESSION_ABSOLUTE_TIMEOUT, so an older pending device can no
    longer be confirmed: the next setup page of that user removes it, younger ones stay."""
    stale = TOTPDevice.objects.create(user=world.manager, name="Authenticator app", confirmed=False)
    young = TOTPDevice.objects.create(user=world.manager, name="Authenticator app", confirmed=False)
    now = timezone.now()
    TOTPDevice.objects.filter(pk=stale.pk).update(
        created_at=now - datetime.timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT + 60)
    )
    TOTPDevice.objects.filter(pk=young.pk).update(
        created_at=now - datetime.timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT - 60)
    )
    shown = signed_in(world.manager).get(reverse("accounts:two_factor")).context["key"]
    pending = TOTPDevice.objects.filter(user=world.manager, confirmed=False)
    assert young.pk in {device.pk for device in pending} and stale.pk not in {device.pk for device in pending}
    assert sorted(key_of(device) for device in pending) == sorted([key_of(young), shown])


@pytest.mark.django_db(transaction=True)
def test_of_two_sessions_confirming_at_once_the_second_finds_its_device_gone() -> None:
    """The user's devices are locked before a confirmation: the second waits, then confirms
    nothing (the view sends that session to the code entry) rather than failing."""
    user = UserFactory(username="twice")
    first, second = (TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False) for _ in range(2))
    outcomes = hold_open(lambda: _confirm(first, code_for(first)), lambda: _confirm(second, code_for(second)))
    assert outcomes == {"first": True, "second": None, "second waited": True}
    assert [(device.pk, device.confirmed) for device in TOTPDevice.objects.filter(user=user)] == [(first.pk, True)]


def test_a_user_with_a_device_must_enter_a_code_after_the_password(world: World) -> None:
    device = TOTPDevice.objects.create(user=world.officer_a, name="phone", confirmed=True)
    client = signed_in(world.officer_a)
    response = client.get("/activities/?q=x")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:two_factor_verify')}?next=%2Factivities%2F%3Fq%3Dx"
    response = client.post(reverse("accounts:two_factor_verify"), {"code": "12x456"})
    assert "Enter the digits" in response.content.decode()
    response = client.post(
        reverse("accounts:two_factor_verify"), {"code": code_for(device), "next": "/activities/?q=x"}
    )
    assert response.status_code == 302 and response["Location"] == "/activities/?q=x"
    assert client.get("/activities/").status_code == 200


def test_the_icon_is_served_to_a_session_held_at_the_second_factor(world: World) -> None:
    TOTPDevice.objects.create(user=world.officer_a, name="phone", confirmed=True)
    client = signed_in(world.officer_a)
    icon = client.get("/favicon.ico")
    # The browser's own request for the icon is not a page the user asked for: not held, and
    # never the page a code entry would send the user on to.
    assert icon.status_code == 302 and icon["Location"] == "/static/img/favicon.svg"
    assert client.get("/activities/")["Location"].startswith(reverse("accounts:two_factor_verify"))


def test_a_code_cannot_be_used_twice(world: World) -> None:
    device = TOTPDevice.objects.create(user=world.officer_a, name="phone", confirmed=True)
    code = code_for(device)
    first, second = signed_in(world.officer_a), signed_in(world.officer_a)
    assert first.post(reverse("accounts:two_factor_verify"), {"code": code})["Location"] == "/"
    assert second.post(reverse("accounts:two_factor_verify"), {"code": code}).status_code == 200


def test_the_next_parameter_cannot_send_users_elsewhere(world: World) -> None:
    device = TOTPDevice.objects.create(user=world.officer_a, name="phone", confirmed=True)
    client = signed_in(world.officer_a)
    response = client.post(
        reverse("accounts:two_factor_verify"), {"code": code_for(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_others_may_go_without_and_may_switch_it_off(world: World) -> None:
    client = signed_in(world.manager)
    assert client.get("/activities/").status_code == 200
    client.get(reverse("accounts:two_factor"))
    device = TOTPDevice.objects.get(user=world.manager)
    client.post(reverse("accounts:two_factor"), {"code": code_for(device)})
    assert TOTPDevice.objects.filter(user=world.manager, confirmed=True).exists()
    client.post(reverse("accounts:two_factor"), {"disable": "1"})
    assert not TOTPDevice.objects.filter(user=world.manager).exists()


def test_admins_cannot_switch_it_off(world: World) -> None:
    device = TOTPDevice.objects.create(user=world.admin, name="phone", confirmed=True)
    client = signed_in(world.admin)
    client.post(reverse("accounts:two_factor_verify"), {"code": code_for(device)})
    response = client.post(reverse("accounts:two_factor"), {"disable": "1"}, follow=True)
    assert "Administrators must keep a second factor" in response.content.decode()
    assert TOTPDevice.objects.filter(user=world.admin, confirmed=True).exists()


def test_api_calls_on_an_unverified_session_get_json_403(world: World) -> None:
    TOTPDevice.objects.create(user=world.manager, name="phone", confirmed=True)
    client = signed_in(world.manager)
    response = client.get("/api/v1/activities/")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Second factor required")


def test_api_tokens_are_not_held_at_the_second_factor(world: World) -> None:
    from accounts.services import token_issue

    TOTPDevice.objects.create(user=world.api_client, name="phone", confirmed=True)
    _, key = token_issue(user=world.api_client, name="bi", days=5)
    response = Client().get("/api/v1/areas/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert "results" in response.json()


def test_the_demo_admin_has_a_device_and_totp_code_prints_a_working_code() -> None:
    import io

    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("totp_code", "admin", stdout=out)
    code = out.getvalue().split()[0]
    device = TOTPDevice.objects.get(user__username="admin", confirmed=True)
    assert device.verify_token(code)


def test_a_session_held_at_the_code_cannot_replace_the_device(world: World) -> None:
    """The password alone must not let anyone swap the victim's authenticator for their own."""
    device = TOTPDevice.objects.create(user=world.officer_a, name="phone", confirmed=True)
    client = signed_in(world.officer_a)
    page = client.get(f"{reverse('accounts:two_factor')}?replace=1")
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert not TOTPDevice.objects.filter(user=world.officer_a, confirmed=False).exists()
    intruder = TOTPDevice.objects.create(user=world.officer_a, name="Authenticator app", confirmed=False)
    response = client.post(f"{reverse('accounts:two_factor')}?replace=1", {"code": code_for(intruder)})
    assert response["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert list(TOTPDevice.objects.filter(user=world.officer_a, confirmed=True)) == [device]
    assert client.get("/activities/")["Location"].startswith(reverse("accounts:two_factor_verify"))


def test_a_session_held_at_the_code_cannot_switch_the_second_factor_off(world: World) -> None:
    TOTPDevice.objects.create(user=world.manager, name="phone", confirmed=True)
    client = signed_in(world.manager)
    response = client.post(reverse("accounts:two_factor"), {"disable": "1"})
    assert response["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert TOTPDevice.objects.filter(user=world.manager, confirmed=True).exists()
    assert client.get("/activities/")["Location"].startswith(reverse("accounts:two_factor_verify"))


def test_the_session_gets_a_new_key_when_the_code_is_accepted(world: World) -> None:
    """Passing the second factor completes the sign-in: a key known before it is worth nothing after."""
    device = TOTPDevice.objects.create(user=world.officer_a, name="phone", confirmed=True)
    client = signed_in(world.officer_a)
    before = client.session.session_key
    assert before is not None
    client.post(reverse("accounts:two_factor_verify"), {"code": code_for(device)})
    after = client.session.session_key
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert UserSession.objects.get(user=world.officer_a).session_key == after
    assert client.get("/activities/").status_code == 200
    stolen = Client()
    stolen.cookies[settings.SESSION_COOKIE_NAME] = before
    assert stolen.get("/activities/")["Location"].startswith(reverse("accounts:login"))
