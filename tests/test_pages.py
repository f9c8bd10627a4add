from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_home_page_uses_assets_served_by_the_app() -> None:
    response = Client().get("/")
    content = response.content.decode()
    assert "The register of military attachés" in content
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in content
    assert "cdn" not in content.lower()


def test_vendor_assets_come_from_node_modules() -> None:
    from django.contrib.staticfiles import finders

    for path in ("vendor/bootstrap/css/bootstrap.min.css", "vendor/htmx/htmx.min.js", "vendor/chartjs/chart.umd.js"):
        assert finders.find(path), f"{path} is missing: run `npm ci`"


def test_axe_core_is_not_served() -> None:
    """axe-core is a devDependency the accessibility tests evaluate in the page: no static
    file of it may reach users."""
    from django.contrib.staticfiles import finders

    served = [path for finder in finders.get_finders() for path, _ in finder.list([])]
    assert served and not [path for path in served if "axe" in path.lower()]


def test_template_comments_are_closed_on_their_line() -> None:
    """Django's `{# … #}` ends at the line's end: one spread over lines is printed on the page
    as text. Longer comments use `{% comment %}`."""
    from pathlib import Path

    from django.conf import settings

    unclosed = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}"
        for directory in settings.TEMPLATES[0]["DIRS"]
        for path in sorted(Path(directory).rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "{#" in line and "#}" not in line.split("{#", 1)[1]
    ]
    assert unclosed == []


@pytest.mark.django_db
def test_the_activity_list_prints_no_template_syntax() -> None:
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="reader"))
    content = client.get("/activities/").content.decode()
    assert "<strong>0</strong> activities" in content
    assert "{#" not in content and "#}" not in content


@pytest.mark.django_db
def test_pages_name_an_icon_the_app_serves_itself() -> None:
    """No page asks the browser to guess /favicon.ico (a 404 and a console error on every page)."""
    from xml.etree import ElementTree

    from django.contrib.staticfiles import finders

    content = Client().get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in content
    path = finders.find("img/favicon.svg")
    assert path, "static/img/favicon.svg is missing"
    icon = ElementTree.parse(path).getroot()  # noqa: S314 (our own file)
    assert icon.tag == "{http://www.w3.org/2000/svg}svg" and icon.get("viewBox") == "0 0 32 32"
    # Drawn by hand and self-contained: no font, image, script or link it would have to load.
    assert not [element.tag for element in icon.iter() if element.tag.split("}")[1] in {"text", "image", "script", "a"}]


@pytest.mark.django_db
def test_favicon_ico_leads_to_the_icon_for_pages_that_name_none() -> None:
    """The admin, the API docs and downloads have no <link rel="icon">: browsers ask for /favicon.ico."""
    response = Client().get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == "/static/img/favicon.svg"
