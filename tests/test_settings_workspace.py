"""The workspace's settings fail loudly when malformed."""

from __future__ import annotations

import pytest

from tests.test_settings import run_python


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("LOGIN_LOCKOUT_MINUTES", "-5"),
        ("IMPORT_MAX_ROWS", "0"),
        ("IMPORT_MAX_BYTES", "0"),
    ],
)
def test_nonsense_limits_stop_the_app_naming_the_variable(name: str, value: str) -> None:
    result = run_python("import django; django.setup()", **{name: value})
    assert result.returncode != 0
    assert f"{name} must be 1 or more." in result.stderr


def test_axes_uses_the_one_client_ip_function() -> None:
    result = run_python(
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.AXES_CLIENT_IP_CALLABLE, settings.AXES_FAILURE_LIMIT, settings.LOGIN_URL)",
        LOGIN_FAILURE_LIMIT="7",
    )
    assert result.stdout.split() == ["attache.client_ip.client_ip", "7", "/accounts/login/"]
