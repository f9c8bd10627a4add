"""Requests whose user changes half-way and that write in more than one transaction.

pghistory puts the new user into the request's audit context when `request.user` is set
(sign-in; DRF authenticating a token). A context row is protected once its transaction
has committed (cooperation migration 0008), so writing the same context again with the
new user would be refused. `attache.history` continues the request in a fresh context
instead (`cooperation.audit.audit_context_for_user`). A write to a tracked table writes
the context row when it records an event, and (statement-level triggers) when it changes
two rows or more even if it records none. No view writes before the user changes today
but untracked rows or one-row changes of excluded fields (password, last_login,
last_used_at), and services write under contexts of their own (`audit_context`); a
test-only view writes before and after a sign-in. The requests run without a test
transaction, so each write commits on its own as in production.
"""

from __future__ import annotations

from importlib import metadata

import pghistory
import pytest
from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import include, path
from pghistory import middleware as pghistory_middleware
from pghistory import runtime as pghistory_runtime
from pghistory.models import Context
from rest_framework.test import APIClient

from accounts.models import SecurityEvent, SecurityEventKind, User
from accounts.services import token_issue
from cooperation.audit import event_model
from cooperation.choices import Classification
from cooperation.models import Activity, Desk
from tests.api.conftest import activity_body
from tests.factories import DeskFactory, RelationshipFactory, UserFactory

PASSWORD = "correct-horse-battery"


def _write_sign_in_write(request: HttpRequest) -> None:
    """A tracked write, a sign-in, another tracked write: the shape no view has today."""
    Desk.objects.create(name="Before")
    login(request, User.objects.get(username="desk"), backend="django.contrib.auth.backends.ModelBackend")
    Desk.objects.create(name="After")


def sign_in_between_committed_writes(request: HttpRequest) -> HttpResponse:
    _write_sign_in_write(request)
    return HttpResponse("done")


def sign_in_between_writes_of_one_transaction(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        _write_sign_in_write(request)
    return HttpResponse("done")


def sign_in_then_write(request: HttpRequest) -> HttpResponse:
    """Nothing is written before the user changes, so the request's first context never is."""
    login(request, User.objects.get(username="desk"), backend="django.contrib.auth.backends.ModelBackend")
    Desk.objects.create(name="After")
    return HttpResponse("done")


urlpatterns = [
    path("test/committed/", sign_in_between_committed_writes),
    path("test/one-transaction/", sign_in_between_writes_of_one_transaction),
    path("test/sign-in-then-write/", sign_in_then_write),
    path("", include("attache.urls")),
]


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
    # The parent is the request as it arrived, before the token named its user: written
    # with the first context that names it, so an auditor can follow the link.
    request = Context.objects.get(pk=metadata["parent"])
    assert request.metadata == {"user": None, "url": "/api/v1/activities/", "ip": "127.0.0.1"}
    assert Context.objects.filter(metadata__parent=str(request.pk)).count() == 1


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/test/committed/", "/test/one-transaction/"])
def test_a_sign_in_between_two_tracked_writes_continues_in_a_context_of_its_own(url: str) -> None:
    """The write before the sign-in keeps the anonymous context as it was written; the
    write after it gets a fresh context naming the user, with the request's url and ip and
    the first context as `parent`. Rewriting the first context instead would be refused
    once it has committed (a 500), and within one transaction would name the user on the
    anonymous write."""
    user = UserFactory(username="desk")
    response = Client(REMOTE_ADDR="10.0.0.9", raise_request_exception=False).post(url)
    assert (response.status_code, response.content) == (200, b"done")
    events = event_model(Desk).objects.select_related("pgh_context")
    before, after = (events.get(name=name, pgh_label="insert").pgh_context for name in ("Before", "After"))
    assert before.metadata == {"user": None, "url": url, "ip": "10.0.0.9"}
    assert after.metadata == {"user": user.pk, "url": url, "ip": "10.0.0.9", "parent": str(before.pk)}
    assert after.pk != before.pk


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_a_sign_in_before_any_write_still_names_a_parent_that_exists() -> None:
    """The anonymous start of the request wrote nothing; the write after the sign-in gets a
    context of its own whose parent row is written with it (the request as it arrived)."""
    user = UserFactory(username="desk")
    response = Client(REMOTE_ADDR="10.0.0.9", raise_request_exception=False).post("/test/sign-in-then-write/")
    assert (response.status_code, response.content) == (200, b"done")
    after = event_model(Desk).objects.select_related("pgh_context").get(name="After").pgh_context
    url = "/test/sign-in-then-write/"
    parent = Context.objects.get(pk=after.metadata["parent"])
    assert after.metadata == {"user": user.pk, "url": url, "ip": "10.0.0.9", "parent": str(parent.pk)}
    assert parent.metadata == {"user": None, "url": url, "ip": "10.0.0.9"}


@pytest.mark.django_db(transaction=True)
def test_writes_after_a_sign_in_name_the_signed_in_request_as_their_parent(migrated_data: None) -> None:
    """Signed in through the form, the officer's next request writes through a service: its
    context's parent is that request's context, which exists and names the officer."""
    relationship = RelationshipFactory(state_a="BY", state_b="US")
    officer = UserFactory(
        username="officer", clearance=Classification.INTERNAL, desks=[DeskFactory(relationships=[relationship])]
    )
    client = APIClient(REMOTE_ADDR="10.0.0.7")
    response = client.post("/accounts/login/", {"username": "officer", "password": PASSWORD})
    assert response.status_code == 302
    response = client.post("/api/v1/activities/", activity_body(relationship.pk), format="json")
    assert response.status_code == 201, response.content
    event = event_model(Activity).objects.select_related("pgh_context").get(pgh_obj_id=response.json()["id"])
    assert event.pgh_context.metadata["action"] == "activity.create"
    parent = Context.objects.get(pk=event.pgh_context.metadata["parent"])
    assert parent.metadata == {"user": officer.pk, "url": "/api/v1/activities/", "ip": "10.0.0.7"}
    orphans = Context.objects.filter(metadata__has_key="parent").exclude(
        metadata__parent__in=[str(pk) for pk in Context.objects.values_list("pk", flat=True)]
    )
    assert not orphans.exists()


def test_pghistory_still_rewrites_the_context_when_the_user_changes() -> None:
    """`AuditContextMiddleware.__call__` replaces pghistory 3.9.2's middleware and request
    classes, and `audit_context_for_user` sets its private `runtime._tracker`. This fails
    when pghistory changes (its version, or its request class no longer writing the new
    user into the current context), so the override is looked at again on an upgrade."""
    assert metadata.version("django-pghistory") == "3.9.2"
    user = UserFactory.build(pk=7)
    request = RequestFactory().get("/")
    with pghistory.context(user=None, url="/") as context:
        request.__class__ = pghistory_middleware.WSGIRequest
        request.user = user
        assert pghistory_runtime._tracker.value is context
        assert context.metadata == {"user": 7, "url": "/"}
