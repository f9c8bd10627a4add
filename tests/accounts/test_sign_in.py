"""Sign in, sign out, password change; failed sign-ins locked out per client address."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "correct-horse-battery"


def attempt(client: Client, username: str, password: str, **extra: str) -> str:
    response = client.post(LOGIN, {"username": username, "password": password}, **extra)  # type: ignore[arg-type]
    return f"{response.status_code} {response.content.decode()}"


def test_workspace_pages_send_anonymous_users_to_the_sign_in_page() -> None:
    response = Client().get("/activities/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/activities/"
    page = Client().get(response["Location"]).content.decode()
    assert "Sign in" in page and 'name="next" value="/activities/"' in page


def test_signing_in_and_out() -> None:
    UserFactory(username="desk")
    client = Client()
    response = client.post(LOGIN, {"username": "desk", "password": PASSWORD, "next": "/activities/"})
    assert response.status_code == 302 and response["Location"] == "/activities/"
    assert "desk · Desk officer" in client.get("/activities/").content.decode()
    assert client.get("/accounts/logout/").status_code == 405  # signing out is a POST
    assert client.post("/accounts/logout/")["Location"] == LOGIN
    assert client.get("/activities/").status_code == 302


def test_a_wrong_password_says_so_without_saying_which_part() -> None:
    UserFactory(username="desk")
    result = attempt(Client(), "desk", "wrong")
    assert result.startswith("200") and "Please enter a correct username and password" in result


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_failures_lock_the_username_out_from_that_address() -> None:
    UserFactory(username="desk")
    client = Client(REMOTE_ADDR="10.0.0.5")
    for _ in range(2):
        assert attempt(client, "desk", "wrong").startswith("200")
    locked = attempt(client, "desk", "wrong")
    assert locked.startswith("429") and "Too many failed sign-ins" in locked and "desk" in locked
    # Even the right password is refused while locked out.
    assert attempt(client, "desk", PASSWORD).startswith("429")
    # Another computer is not locked out.
    assert attempt(Client(REMOTE_ADDR="10.0.0.6"), "desk", PASSWORD).startswith("302")


@override_settings(AXES_FAILURE_LIMIT=2, TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_client_address_comes_from_client_ip() -> None:
    UserFactory(username="desk")
    proxy = Client(REMOTE_ADDR="192.0.2.1")
    # The attacker varies a forged left-most entry; the proxy appends the real address.
    for forged in ("1.1.1.1", "2.2.2.2"):
        attempt(proxy, "desk", "wrong", HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.9")
    assert attempt(proxy, "desk", PASSWORD, HTTP_X_FORWARDED_FOR="3.3.3.3, 203.0.113.9").startswith("429")
    # A different client behind the same proxy is not locked out.
    assert attempt(proxy, "desk", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.10").startswith("302")


def test_password_change() -> None:
    user = UserFactory(username="desk")
    client = Client()
    client.force_login(user)
    page = client.post(
        "/accounts/password/",
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
    ).content.decode()
    assert 'id="id_old_password_errors">Your old password was entered incorrectly.' in page
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-better-one-2016",
            "new_password2": "a-much-better-one-2016",
        },
    )
    assert response["Location"] == "/accounts/password/done/"
    user.refresh_from_db()
    assert user.check_password("a-much-better-one-2016")
    assert "Your password has been changed." in client.get("/accounts/password/done/").content.decode()
