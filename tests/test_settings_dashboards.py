"""SITE_URL (links in the digest e-mail) comes from the environment and fails loudly when malformed."""

from __future__ import annotations

from pathlib import Path

from tests.test_settings import run_python


def test_a_site_url_without_a_scheme_stops_the_app() -> None:
    result = run_python("import django; django.setup()", SITE_URL="attache.example.org")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SITE_URL must start with http:// or https://" in result.stderr


def test_the_site_url_and_the_mail_backend_are_read_from_the_environment(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SITE_URL, settings.EMAIL_BACKEND, getattr(settings, 'EMAIL_FILE_PATH', ''))"
    )
    assert run_python(code).stdout.split() == ["django.core.mail.backends.console.EmailBackend"]
    # django-environ drops the first slash of the path: filemail:///var/mail is var/mail under
    # the project, filemail:////srv/mail the absolute /srv/mail.
    configured = run_python(code, SITE_URL="https://attache.example.org", EMAIL_URL=f"filemail:///{tmp_path}")
    assert configured.stdout.split() == [
        "https://attache.example.org",
        "django.core.mail.backends.filebased.EmailBackend",
        str(tmp_path),
    ]
