"""Requests whose user changes half-way and that write in more than one transaction.

pghistory puts the new user into the request's audit context when `request.user` is set
(sign-in; DRF authenticating a token). A context row is protected once its transaction
has committed (cooperation migration 0008), so a request must never write a context row,
commit, change its user and write the same context again: the trigger would refuse the
second write. A write to a tracked table writes the context row when it records an
event, and (statement-level triggers) when it changes two rows or more even if it records
none. Today every write before the user changes is untracked or a one-row change of an
excluded field (password, last_login, last_used_at), and services write under contexts
of their own (`audit_context`). The requests run without a test transaction, so each
write commits on its own as in production.
"""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from accounts.models import SecurityEvent, SecurityEventKind, User
from accounts.services import token_issue
from cooperation.audit import event_model
from cooperation.choices import Classification
from cooperation.models import Activity
from tests.api.conftest import activity_body
from tests.factories import DeskFactory, RelationshipFactory, UserFactory

PASSWORD = "correct-horse-battery"


@pytest.mark.django_db(transaction=True)
def test_signing_in_with_a_password_to_rehash_writes_before_and_after_the_user_changes() -> None:
    """Checking a password kept under an older hasher saves the new hash while the request
    is still anonymous; `login()` then names the user and saves `last_login`, each in a
    transaction of its own. Neither may touch a context the other has committed."""
    user = UserFactory(username="desk")  # stored with the MD5 hasher of the test settings
    with override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.MD5PasswordHasher",
        ]
    ):
        client = Client()
        response = client.post("/accounts/login/", {"username": "desk", "password": PASSWORD, "next": "/activities/"})
        assert response.status_code == 302 and response["Location"] == "/activities/"
        user.refresh_from_db()
        assert user.password.startswith("pbkdf2_sha256$") and user.last_login is not None
        assert client.get("/activities/").status_code == 200
    assert SecurityEvent.objects.filter(kind=SecurityEventKind.SIGN_IN, user=user).count() == 1
    # Neither the hash nor last_login is history; had either been, its event would name who.
    for event in event_model(User).objects.filter(pgh_obj_id=user.pk).exclude(pgh_label="insert"):
        assert event.pgh_context.metadata["user"] in (None, user.pk)


@pytest.mark.django_db(transaction=True)
def test_a_token_request_names_the_tokens_user_after_its_anonymous_start(migrated_data: None) -> None:
    """The request starts anonymous (no session); authenticating the token records its use
    (committed), then DRF sets the user, then the service writes: the event names the
    token's user and belongs to the request through `parent`."""
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    officer = UserFactory(
        username="officer", clearance=Classification.INTERNAL, desks=[DeskFactory(relationships=[relationship])]
    )
    _, key = token_issue(user=officer, name="bi")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = activity_body(relationship.pk)
    response = client.post("/api/v1/activities/", body, format="json")
    assert response.status_code == 201, response.content
    event = event_model(Activity).objects.select_related("pgh_context").get(pgh_obj_id=response.json()["id"])
    metadata = event.pgh_context.metadata
    assert (metadata["user"], metadata["action"], metadata["url"]) == (
        officer.pk,
        "activity.create",
        "/api/v1/activities/",
    )
    assert metadata["parent"] != str(event.pgh_context.pk)
