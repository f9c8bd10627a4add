"""API tokens: stored hashed, expiring, revocable; issued by command and on the profile page."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import token_issue, token_revoke
from tests.conftest import World

pytestmark = pytest.mark.django_db


def api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_only_a_keyed_hash_is_stored_and_the_key_works(world: World) -> None:
    token, key = token_issue(user=world.manager, name="bi")
    stored = ApiToken.objects.get(pk=token.pk)
    assert key not in (stored.digest, stored.prefix) and key.startswith(stored.prefix + ".")
    response = api(key).get("/api/v1/areas/")
    assert response.status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    assert api(key[:-1] + ("A" if key[-1] != "A" else "B")).get("/api/v1/areas/").json() == {"detail": "Invalid token."}


def test_expired_and_revoked_tokens_are_refused_with_401(world: World) -> None:
    token, key = token_issue(user=world.manager, name="old", days=1)
    past = timezone.now() - datetime.timedelta(days=2)
    ApiToken.objects.filter(pk=token.pk).update(created_at=past, expires_at=past + datetime.timedelta(days=1))
    response = api(key).get("/api/v1/areas/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"
    token, key = token_issue(user=world.manager, name="gone")
    token_revoke(token=token)
    assert "revoked" in api(key).get("/api/v1/areas/").json()["detail"]


def test_a_token_of_a_user_made_inactive_is_refused(world: World) -> None:
    """Deactivating through the service revokes the tokens; a user switched off any other
    way (the admin's checkbox, SQL) keeps them, and authentication must still refuse."""
    token, key = token_issue(user=world.manager, name="bi")
    assert api(key).get("/api/v1/areas/").status_code == 200
    type(world.manager).objects.filter(pk=world.manager.pk).update(is_active=False)
    response = api(key).get("/api/v1/areas/")
    assert response.status_code == 401 and response.json() == {"detail": "The token's user is inactive."}
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None  # refused by the check, not by a revocation


def test_issue_token_command_prints_the_key_once(world: World) -> None:
    out = StringIO()
    call_command("issue_token", "manager", "--days", "7", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    assert api(key).get("/api/v1/areas/").status_code == 200
    token = ApiToken.objects.get(prefix=key.split(".")[0])
    assert (token.expires_at - token.created_at).days == 7
    with pytest.raises(Exception, match="between 1 and 365"):
        call_command("issue_token", "manager", "--days", "9999", stdout=StringIO())


def test_profile_page_issues_shows_once_and_revokes_own_tokens(world: World) -> None:
    browser = Client()
    browser.force_login(world.officer_a)
    page = browser.post("/accounts/tokens/", {"name": "notebook", "days": "30"})
    assert page.status_code == 200
    token = ApiToken.objects.get(user=world.officer_a, name="notebook")
    content = page.content.decode()
    assert "Copy your new key now" in content and f"{token.prefix}." in content
    assert f"{token.prefix}." not in browser.get("/accounts/tokens/").content.decode()
    other, _ = token_issue(user=world.manager, name="not yours")
    assert browser.post("/accounts/tokens/", {"revoke": other.pk}).status_code == 404
    assert browser.post("/accounts/tokens/", {"revoke": token.pk}).status_code == 302
    # Said once (base.html shows the messages), not twice to a screen reader.
    assert browser.get("/accounts/tokens/").content.decode().count(f"Token {token.prefix}… revoked.") == 1
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=other.pk).revoked_at is None
    bad = browser.post("/accounts/tokens/", {"name": "", "days": "0"})
    assert bad.status_code == 400 and ApiToken.objects.filter(user=world.officer_a).count() == 1


@pytest.mark.parametrize("chosen", ["²", "٣x", "1.0", "-1", "", "99999999999999999999"])
def test_revoking_with_a_token_number_that_is_not_one_is_a_404_and_revokes_nothing(world: World, chosen: str) -> None:
    """`str.isdigit()` accepts "²", which `int()` refuses: the page must not fail on it."""
    browser = Client(raise_request_exception=False)
    browser.force_login(world.officer_a)
    token, _ = token_issue(user=world.officer_a, name="kept")
    response = browser.post("/accounts/tokens/", {"revoke": chosen})
    assert response.status_code == 404 and "Not found" in response.content.decode()
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


@override_settings(API_THROTTLE_RATES={"token": "2/min", "user": "100/min", "anon": "100/min"})
def test_throttling_per_token_answers_429_with_retry_after(world: World) -> None:
    _, key = token_issue(user=world.manager, name="busy")
    client = api(key)
    assert [client.get("/api/v1/areas/").status_code for _ in range(2)] == [200, 200]
    response = client.get("/api/v1/areas/")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"]
    _, other_key = token_issue(user=world.manager, name="calm")
    assert api(other_key).get("/api/v1/areas/").status_code == 200
