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
