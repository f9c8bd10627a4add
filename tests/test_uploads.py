"""Request bodies over the app's own limits are a 413 that says which limit, never a bare
400 or a 500; a multipart body too large for any upload is refused unread, API included.
(The import page's own refusal, with its form: tests/web/test_imports.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from attache.uploads import MULTIPART_ALLOWANCE, megabytes
from cooperation.models import Activity
from tests.api.conftest import activity_body, client_for
from tests.conftest import World

pytestmark = pytest.mark.django_db

MB = 1_048_576
API_LIST = "/api/v1/activities/"


@pytest.fixture
def limit(settings: Any) -> int:
    settings.IMPORT_MAX_BYTES = MB
    return MB


def officer(world: World) -> Client:
    client = Client()
    client.force_login(world.officer_a)
    return client


def api(world: World) -> APIClient:
    return client_for(world.officer_a)


def test_megabytes_name_limits_to_a_tenth_and_round_an_excess_up() -> None:
    assert [megabytes(size) for size in (20 * MB, 2_621_440, 10_000_000)] == ["20", "2.5", "9.5"]
    assert [megabytes(size, rounded_up=True) for size in (20 * MB, 20 * MB + 1, 10_000_000)] == ["20", "20.1", "9.6"]


def test_form_fields_over_the_memory_limit_are_a_413_page_that_says_so(world: World) -> None:
    """DATA_UPLOAD_MAX_MEMORY_SIZE (Django's 2.5 MB) was a bare "Bad request"."""
    response = officer(world).post("/activities/new/", {"title": "Long", "description": "x" * (3 * MB)})
    content = response.content.decode()
    assert response.status_code == 413
    assert "<title>Too large · Attaché</title>" in content
    assert "The request carries more than 2.5 MB besides files, more than Attaché accepts at once." in content
    assert "Nothing was saved." in content and not Activity.objects.filter(title="Long").exists()


def test_an_api_body_over_the_memory_limit_is_a_413_that_says_so(world: World) -> None:
    body = json.dumps(activity_body(world.rel_a.pk, title="Long", description="x" * (3 * MB)))
    response = api(world).post(API_LIST, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request carries more than 2.5 MB besides files, more than Attaché accepts at once. "
        "Nothing was saved."
    }
    assert not Activity.objects.filter(title="Long").exists()


def test_an_api_upload_too_large_for_any_file_is_refused_unread(
    world: World, limit: int, bytes_read: list[int]
) -> None:
    """The API takes no file, but accepts multipart bodies: one too large to carry even an
    import file is not streamed to disk first (it was, and the activity was created)."""
    file = SimpleUploadedFile("big.bin", b"x" * (limit + MULTIPART_ALLOWANCE))
    response = api(world).post(API_LIST, activity_body(world.rel_a.pk, title="Carried") | {"file": file})
    assert response.status_code == 413 and sum(bytes_read) == 0
    assert response.json() == {"detail": "The upload is 1.1 MB; at most 1 MB can be sent at once. Nothing was saved."}
    assert not Activity.objects.filter(title="Carried").exists()


def test_an_api_multipart_body_within_the_limit_is_read_as_before(world: World, limit: int) -> None:
    file = SimpleUploadedFile("small.bin", b"x" * limit)
    response = api(world).post(API_LIST, activity_body(world.rel_a.pk, title="Carried") | {"file": file})
    assert response.status_code == 201, response.json()
    assert Activity.objects.filter(title="Carried").exists()


def test_a_page_sent_an_upload_too_large_for_any_file_answers_413_unread(
    world: World, limit: int, bytes_read: list[int]
) -> None:
    file = SimpleUploadedFile("big.bin", b"x" * (limit + MULTIPART_ALLOWANCE))
    response = officer(world).post("/activities/new/", {"title": "Carried", "file": file})
    content = response.content.decode()
    assert response.status_code == 413 and sum(bytes_read) == 0
    assert "The upload is 1.1 MB; at most 1 MB can be sent at once. Nothing was saved." in content
    assert not Activity.objects.filter(title="Carried").exists()
