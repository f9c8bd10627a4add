"""INTENSITY_TREND_THRESHOLD comes from the environment and fails loudly when malformed."""

from __future__ import annotations

import pytest

from tests.test_settings import run_python


@pytest.mark.parametrize("value", ["abc", "0", "-0.1", "nan", "101"])
def test_a_malformed_trend_threshold_stops_the_app(value: str) -> None:
    result = run_python("import django; django.setup()", INTENSITY_TREND_THRESHOLD=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: INTENSITY_TREND_THRESHOLD must be a number above 0 and at most 100" in result.stderr


def test_the_trend_threshold_is_read_from_the_environment() -> None:
    code = "import django; django.setup(); from django.conf import settings; print(settings.INTENSITY_TREND_THRESHOLD)"
    assert run_python(code, INTENSITY_TREND_THRESHOLD="0.4").stdout.strip() == "0.4"
    assert run_python(code).stdout.strip() == "0.25"
