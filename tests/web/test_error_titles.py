"""A refused form says so in the page's title ("Error: …", WCAG G88, the GOV.UK pattern):
the title is what a screen reader announces first and what a tab shows, and a refused
submission must not read like the blank form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from cooperation.bulk import IMPORT_COLUMNS
from tests.conftest import World
from tests.factories import AccreditationFactory, AttacheFactory, PostFactory

pytestmark = pytest.mark.django_db


def title_of(response: Any) -> str:
    match = re.search(r"<title>(.*?)</title>", response.content.decode(), re.DOTALL)
    assert match is not None
    return match.group(1)


def bad_import() -> dict[str, Any]:
    row = dict.fromkeys(IMPORT_COLUMNS, "") | {"external_ref": "x-1", "title": "No relationship"}
    lines = [",".join(IMPORT_COLUMNS), ",".join(row[column] for column in IMPORT_COLUMNS)]
    return {"file": SimpleUploadedFile("rows.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")}


def address(world: World, page: str) -> str:
    """The page's URL (an accreditation made for the pages of one)."""
    if page.startswith("accreditation_") and page != "accreditation_create":
        accreditation = AccreditationFactory(
            attache=AttacheFactory(name="Daniel Whitaker"), post=PostFactory(host_country="BY", city="Minsk")
        )
        return reverse(f"workspace:{page}", args=[accreditation.pk])
    if page in ("activity_edit", "activity_delete"):
        return reverse(f"workspace:{page}", args=[world.activities["a_internal"].pk])
    return reverse(page if ":" in page or page == "api-tokens" else f"workspace:{page}")


# id: (who, page, a refused submission, what the refused page shows)
PAGES: dict[str, tuple[str | None, str, Any, str]] = {
    "activity create": ("officer_a", "activity_create", {"title": ""}, 'id="id_title_errors"'),
    "activity edit": ("officer_a", "activity_edit", {"title": "", "version": "1"}, 'id="id_title_errors"'),
    "activity delete": ("officer_a", "activity_delete", {"version": "x"}, "The page was out of date or altered"),
    "accreditation request": ("officer_a", "accreditation_create", {}, 'id="form-errors"'),
    "accreditation notes": (
        "officer_a",
        "accreditation_edit",
        {"releasability": "99", "version": "1"},
        'id="id_releasability_errors"',
    ),
    "lifecycle step": ("officer_a", "accreditation_end", {"on": "yesterday", "version": "1"}, 'id="id_on_errors"'),
    "import, no file": ("officer_a", "activity_import", {}, 'id="id_file_errors"'),
    "import, rows refused": ("officer_a", "activity_import", bad_import, 'id="import-errors"'),
    "sign-in": (None, "accounts:login", {"username": "officer_a", "password": "wrong"}, "alert-danger"),
    "second factor": ("officer_a+device", "accounts:two_factor_verify", {"code": "12x456"}, 'id="id_code_errors"'),
    "token page": ("manager", "api-tokens", {"name": "", "days": "0"}, 'id="id_name_errors"'),
    "password change": (
        "officer_a",
        "accounts:password_change",
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
        'id="id_old_password_errors"',
    ),
}


@pytest.mark.parametrize(("who", "page", "refused", "shows"), PAGES.values(), ids=PAGES.keys())
def test_a_refused_form_says_error_first_in_the_page_title(
    world: World, who: str | None, page: str, refused: Any, shows: str
) -> None:
    client = Client()
    if who is not None:
        user = world.users()[who.removesuffix("+device")]
        if who.endswith("+device"):
            TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        client.force_login(user)
    url = address(world, page)
    blank = client.get(url)
    assert blank.status_code == 200 and not title_of(blank).startswith("Error")
    response = client.post(url, refused() if callable(refused) else refused)
    assert response.status_code in (200, 400) and shows in response.content.decode(), response.status_code
    assert title_of(response) == f"Error: {title_of(blank)}"


@pytest.mark.parametrize(
    ("page", "refused"),
    [("activity_list", {"start_date_after": "notadate"}), ("accreditation_list", {"relationship": "999999"})],
)
def test_a_list_whose_filters_are_refused_says_error_first_in_the_page_title(
    world: World, page: str, refused: dict[str, str]
) -> None:
    client = Client()
    client.force_login(world.officer_a)
    url = reverse(f"workspace:{page}")
    listed = client.get(url)
    assert listed.status_code == 200 and not title_of(listed).startswith("Error")
    response = client.get(url, refused)
    assert response.status_code == 400 and "is-invalid" in response.content.decode()
    assert title_of(response) == f"Error: {title_of(listed)}"
