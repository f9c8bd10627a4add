"""The import pages: template, upload with dry run, commit, re-import."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from attache.uploads import MULTIPART_ALLOWANCE
from cooperation import services
from cooperation.bulk import IMPORT_COLUMNS
from cooperation.models import Activity
from tests.conftest import World
from tests.factories import ActivityFactory
from tests.web.test_activities import BACK, LEFT, LEFT_HTML, breadcrumb

pytestmark = pytest.mark.django_db

IMPORT = reverse("workspace:activity_import")
COMMIT = reverse("workspace:activity_import_commit")


@pytest.fixture(autouse=True)
def media_root(tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def csv_file(*lines: str, name: str = "activities.csv") -> SimpleUploadedFile:
    content = "\n".join([",".join(IMPORT_COLUMNS), *lines]) + "\n"
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def line(ref: str, **changes: str) -> str:
    values = dict.fromkeys(IMPORT_COLUMNS, "")
    values |= {"external_ref": ref, "state_a": "BY", "state_b": "US", "area": "education", "title": f"Imported {ref}",
               "kind": "course", "start_date": "2017-03-01", "participants": "5"}  # fmt: skip
    values |= changes
    return ",".join(values[name] for name in IMPORT_COLUMNS)


def test_templates_download_as_csv_and_xlsx(world: World) -> None:
    client = signed_in(world.officer_a)
    response = client.get(reverse("workspace:activity_import_template_csv"))
    content = b"".join(response.streaming_content).decode("utf-8-sig")
    assert content.splitlines()[0] == ",".join(IMPORT_COLUMNS)
    response = client.get(reverse("workspace:activity_import_template_xlsx"))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]
    assert [cell.value for cell in sheet[1]] == list(IMPORT_COLUMNS)


def test_a_file_with_one_bad_row_lists_it_and_writes_nothing(world: World) -> None:
    upload = csv_file(line("w-1"), line("w-2", start_date="2017-02-30"), line("w-3"))
    response = signed_in(world.officer_a).post(IMPORT, {"file": upload})
    content = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was written" in content
    assert '<td class="text-end">3</td><td>start_date</td>' in content
    assert "is not a date; write it as YYYY-MM-DD" in content
    assert 'id="commit-import"' not in content
    assert not Activity.objects.filter(external_ref__startswith="w-").exists()


def test_a_clean_file_is_checked_then_committed_then_reimported_without_duplicates(world: World) -> None:
    client = signed_in(world.officer_a)
    report = client.post(IMPORT, {"file": csv_file(line("w-1"), line("w-2"))}).content.decode()
    assert "<strong>2</strong> to create" in report and 'id="commit-import"' in report
    assert not Activity.objects.filter(external_ref__startswith="w-").exists()  # a dry run so far
    token = report.split('name="token" value="')[1].split('"')[0]

    response = client.post(COMMIT, {"token": token})
    assert response.status_code == 302 and response["Location"] == reverse("workspace:activity_list")
    assert Activity.objects.filter(external_ref__startswith="w-").count() == 2
    assert "Import done: 2 created, 0 updated, 0 unchanged." in client.get(response["Location"]).content.decode()
    assert client.post(COMMIT, {"token": token}).status_code == 302  # the token is spent
    assert Activity.objects.filter(external_ref__startswith="w-").count() == 2

    again = client.post(IMPORT, {"file": csv_file(line("w-1"), line("w-2", title="Changed"))}).content.decode()
    assert "<strong>0</strong> to create" in again and "<strong>1</strong> to update" in again
    assert "<strong>1</strong> unchanged" in again


def test_a_token_is_only_good_for_its_owner(world: World) -> None:
    admin = signed_in(world.admin)
    report = admin.post(IMPORT, {"file": csv_file(line("w-1"))}).content.decode()
    token = report.split('name="token" value="')[1].split('"')[0]
    response = signed_in(world.officer_a).post(COMMIT, {"token": token}, follow=True)
    assert "no longer waiting to be imported" in response.content.decode()
    assert not Activity.objects.filter(external_ref="w-1").exists()


def test_another_users_upload_leaves_a_staged_file_waiting(world: World) -> None:
    """Staging a file discards the uploader's own earlier files only."""
    officer = signed_in(world.officer_a)
    report = officer.post(IMPORT, {"file": csv_file(line("w-1"))}).content.decode()
    token = report.split('name="token" value="')[1].split('"')[0]
    other = signed_in(world.admin).post(IMPORT, {"file": csv_file(line("w-2"))}).content.decode()
    assert 'id="commit-import"' in other
    response = officer.post(COMMIT, {"token": token})
    assert response.status_code == 302 and response["Location"] == reverse("workspace:activity_list")
    assert list(Activity.objects.filter(external_ref__startswith="w-").values_list("external_ref", flat=True)) == [
        "w-1"
    ]


def test_rows_are_checked_again_at_commit(world: World) -> None:
    client = signed_in(world.officer_a)
    report = client.post(IMPORT, {"file": csv_file(line("w-1"))}).content.decode()
    token = report.split('name="token" value="')[1].split('"')[0]
    world.desk_a.relationships.remove(world.rel_a)  # the officer lost the desk meanwhile
    response = client.post(COMMIT, {"token": token})
    assert response.status_code == 409
    assert "No relationship between Belarus and United States is registered." in response.content.decode()
    assert not Activity.objects.filter(external_ref="w-1").exists()


def token_of(report: str) -> str:
    return report.split('name="token" value="')[1].split('"')[0]


def test_a_commit_refuses_a_row_someone_changed_after_the_dry_run(world: World) -> None:
    """The report promised to update the activity as it was then: a change saved since
    (here in the form) is not overwritten; nothing at all is written."""
    ActivityFactory(relationship=world.rel_a, external_ref="w-1", title="Before", participants=5)
    client = signed_in(world.officer_a)
    report = client.post(IMPORT, {"file": csv_file(line("w-1", title="From the file"), line("w-2"))}).content.decode()
    assert "<strong>1</strong> to create" in report and "<strong>1</strong> to update" in report
    activity = Activity.objects.get(external_ref="w-1")
    services.activity_update(actor=world.admin, activity=activity, data={"location": "Brest"}, expected_version=1)

    response = client.post(COMMIT, {"token": token_of(report)})
    content = response.content.decode()
    assert response.status_code == 409
    assert "&#x27;w-1&#x27; was changed by someone else after the file was checked (version 1 → 2)" in content
    activity.refresh_from_db()
    assert (activity.title, activity.location, activity.version) == ("Before", "Brest", 2)
    assert not Activity.objects.filter(external_ref="w-2").exists()


def test_a_commit_refuses_to_update_a_reference_someone_created_after_the_dry_run(world: World) -> None:
    client = signed_in(world.officer_a)
    report = client.post(IMPORT, {"file": csv_file(line("w-1"))}).content.decode()
    assert "<strong>1</strong> to create" in report
    theirs = ActivityFactory(relationship=world.rel_a, external_ref="w-1", title="Theirs")

    response = client.post(COMMIT, {"token": token_of(report)})
    assert response.status_code == 409
    assert "&#x27;w-1&#x27; was created by someone else after the file was checked" in response.content.decode()
    theirs.refresh_from_db()
    assert (theirs.title, theirs.version) == ("Theirs", 1)


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("a.csv", b"\xff\xfe\x00garbage\x00"), "not valid UTF-16"),
        (SimpleUploadedFile("a.xlsx", b"PK\x03\x04broken"), "The ZIP container is damaged"),
        (SimpleUploadedFile("a.csv", b"title\nx\n"), "Missing columns"),
        (SimpleUploadedFile("a.csv", b""), "The submitted file is empty."),
    ],
)
def test_bad_files_get_a_message_beside_the_field(world: World, upload: SimpleUploadedFile, message: str) -> None:
    response = signed_in(world.officer_a).post(IMPORT, {"file": upload})
    content = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_file_errors">' in content and message.lower() in content.lower()


def test_xlsx_upload_works_like_csv(world: World) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(IMPORT_COLUMNS))
    sheet.append(line("x-1").split(","))
    buffer = io.BytesIO()
    workbook.save(buffer)
    upload = SimpleUploadedFile("activities.xlsx", buffer.getvalue())
    report = signed_in(world.officer_a).post(IMPORT, {"file": upload}).content.decode()
    assert "XLSX file, 1 row" in report and "<strong>1</strong> to create" in report


# Ways back to the list as the user left it (`back`) ---------------------------------------

LIST = reverse("workspace:activity_list")


def test_an_import_started_from_the_list_leads_back_to_it_as_left(world: World) -> None:
    """Import button → upload → dry run → commit: each step passes the list on, and the
    commit lands on the list as the user left it."""
    client = signed_in(world.officer_a)
    button = f'href="{IMPORT}?{BACK}">Import</a>'
    assert button in client.get(f"{LIST}?{LEFT}").content.decode().split('id="list-actions"')[1]
    # The filters change by htmx: the button follows them, out of band.
    partial = client.get(f"{LIST}?{LEFT}", headers={"HX-Request": "true"}).content.decode()
    assert button in partial.split('id="list-actions"')[1]
    assert f'href="{IMPORT}">Import</a>' in client.get(LIST).content.decode()

    page = client.get(f"{IMPORT}?{BACK}").content.decode()
    assert f'<a href="{LIST}?{LEFT_HTML}">Activities</a>' in breadcrumb(page)
    assert f'action="{IMPORT}?{BACK}" novalidate id="import-form"' in page

    report = client.post(IMPORT, {"file": csv_file(line("w-1")), "back": LEFT}).content.decode()
    assert f'<a href="{LIST}?{LEFT_HTML}">Activities</a>' in breadcrumb(report)
    commit_form = report.split(f'action="{COMMIT}"')[1].split("</form>")[0]
    assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in commit_form
    assert f'<a class="btn btn-link" href="{LIST}?{LEFT_HTML}">Back without importing</a>' in commit_form

    token = token_of(report)
    done = client.post(COMMIT, {"token": token, "back": LEFT})
    assert done.status_code == 302 and done["Location"] == f"{LIST}?{LEFT}"
    assert Activity.objects.filter(external_ref="w-1").exists()
    # A spent token sends back to the upload, still passing the list on.
    spent = client.post(COMMIT, {"token": token, "back": LEFT})
    assert spent["Location"] == f"{IMPORT}?{BACK}"


def test_a_commit_refused_for_a_row_someone_changed_leads_back_to_the_list_as_left(world: World) -> None:
    """The 409 after the dry run (someone saved one of the rows since) keeps the way back."""
    ActivityFactory(relationship=world.rel_a, external_ref="w-1", title="Before")
    client = signed_in(world.officer_a)
    report = client.post(IMPORT, {"file": csv_file(line("w-1")), "back": LEFT}).content.decode()
    activity = Activity.objects.get(external_ref="w-1")
    services.activity_update(actor=world.admin, activity=activity, data={"location": "Brest"}, expected_version=1)

    refused = client.post(COMMIT, {"token": token_of(report), "back": LEFT})
    content = refused.content.decode()
    assert refused.status_code == 409 and "was changed by someone else" in content
    assert f'<a href="{LIST}?{LEFT_HTML}">Activities</a>' in breadcrumb(content)
    assert f'action="{IMPORT}?{BACK}" novalidate id="import-form"' in content


@pytest.mark.parametrize(
    ("back", "list_url"),
    [
        ("//evil.example/x", "/activities/?%2F%2Fevil.example%2Fx="),
        ("status=planned&back=https%3A%2F%2Fevil.example%2F", "/activities/?status=planned"),
        ("q=" + "x" * 3000, "/activities/"),
    ],
)
def test_a_crafted_back_at_commit_only_ever_leads_to_the_list(world: World, back: str, list_url: str) -> None:
    client = signed_in(world.officer_a)
    report = client.post(IMPORT, {"file": csv_file(line("w-1"))}).content.decode()
    response = client.post(COMMIT, {"token": token_of(report), "back": back})
    assert response.status_code == 302 and response["Location"] == list_url


# Upload size: the app refuses an oversized file itself, whatever the proxy lets through ----

MB = 1_048_576


@pytest.fixture
def limit(settings: Any) -> int:
    settings.IMPORT_MAX_BYTES = MB
    return MB


def csv_of_size(size: int) -> SimpleUploadedFile:
    """A valid one-row import file of exactly `size` bytes (its description pads it)."""
    content = csv_file(line("w-1")).read()
    padded = csv_file(line("w-1", description="x" * (size - len(content)))).read()
    assert len(padded) == size
    return SimpleUploadedFile("activities.csv", padded, content_type="text/csv")


def nothing_written(media_root: Path) -> bool:
    return not Activity.objects.filter(external_ref="w-1").exists() and not any(media_root.rglob("*"))


def test_a_file_of_the_limit_is_checked(world: World, limit: int, settings: Any) -> None:
    response = signed_in(world.officer_a).post(IMPORT, {"file": csv_of_size(limit)})
    assert response.status_code == 200 and "<strong>1</strong> to create" in response.content.decode()


def test_a_file_one_byte_over_the_limit_is_refused_beside_the_field(world: World, limit: int, settings: Any) -> None:
    response = signed_in(world.officer_a).post(IMPORT, {"file": csv_of_size(limit + 1)})
    content = response.content.decode()
    assert response.status_code == 413
    assert 'id="id_file_errors">The file is 1.1 MB; at most 1 MB can be imported at once.</div>' in content
    assert "<title>Error: Import activities" in content and 'id="import-report"' not in content
    assert nothing_written(Path(settings.MEDIA_ROOT))


def test_a_body_too_large_for_any_file_is_refused_unread_on_the_form(
    world: World, limit: int, settings: Any, bytes_read: list[int]
) -> None:
    """Refused by its Content-Length before a byte is read: the page, the error beside the
    field, the way back to the list (in the form's URL), nothing written."""
    size = limit + MULTIPART_ALLOWANCE + 1
    response = signed_in(world.officer_a).post(f"{IMPORT}?{BACK}", {"file": SimpleUploadedFile("a.csv", b"x" * size)})
    content = response.content.decode()
    assert response.status_code == 413 and sum(bytes_read) == 0
    assert 'id="id_file_errors">The file is 1.1 MB; at most 1 MB can be imported at once.</div>' in content
    assert f'<a href="{LIST}?{LEFT_HTML}">Activities</a>' in breadcrumb(content)
    assert f'action="{IMPORT}?{BACK}" novalidate id="import-form"' in content
    assert nothing_written(Path(settings.MEDIA_ROOT))


def test_the_import_still_checks_the_csrf_token_itself(world: World) -> None:
    """The view, not the middleware, checks the token (after the size): a post without it is refused."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.officer_a)
    refused = client.post(IMPORT, {"file": csv_file(line("w-1"))})
    assert refused.status_code == 403
    token = client.get(IMPORT).content.decode().split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    checked = client.post(IMPORT, {"file": csv_file(line("w-1")), "csrfmiddlewaretoken": token})
    assert checked.status_code == 200 and "<strong>1</strong> to create" in checked.content.decode()
