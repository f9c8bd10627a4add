"""Fault drill: PostgreSQL restarted under load.

The production configuration (gunicorn.conf.py, DJANGO_ENV=production, collected static
files) serves a private PostgreSQL cluster while client threads request API lists with a
token and workspace pages with a session, as behind the TLS proxy (X-Forwarded-Proto).
The cluster is stopped (`pg_ctl -m fast`, then `-m immediate`: in-flight queries are cut
off), kept down until clients have seen the outage, and started again. Every response
must be a success or a 503 with Retry-After and the error page (JSON under /api/, HTML
elsewhere) — never a 500, never a traceback, never a dropped connection — and requests
succeed again without restarting gunicorn (its workers are the same processes at the
end). The gunicorn log has no traceback. The suite restarts twice; `make faults` eight times.
"""

from __future__ import annotations

import collections
import dataclasses
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import servers
from tests.processes import (
    ROOT,
    PrivatePostgres,
    Process,
    drill_runs,
    free_port,
    temporary_directory,
    wait_for,
)

pytestmark = pytest.mark.faults

SECRET_KEY = "fault-drill-secret-key-" + "x7Qp2Lm9Vr4Tz8Kw1Hs6Jd3Nb5Fc0Gy"
API_PATHS = ["/api/v1/activities/", "/api/v1/relationships/"]
PAGE_PATHS = ["/activities/", "/dashboard/"]
CLIENTS = 4


@dataclasses.dataclass(frozen=True)
class Outcome:
    at: float
    path: str
    status: int  # 0: no HTTP response at all
    content_type: str
    retry_after: str | None
    body: str

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    def problem(self) -> str | None:
        """Why this response is not a clean one, or None."""
        if "Traceback" in self.body or 'File "/' in self.body:
            return "a traceback in the body"
        if 200 <= self.status < 400:
            return None
        if self.status != 503:
            return f"status {self.status}"
        if self.retry_after is None:
            return "a 503 without Retry-After"
        if self.api:
            try:
                detail = json.loads(self.body)["detail"]
            except (ValueError, KeyError, TypeError):
                return "a 503 without a JSON body"
            return None if detail.startswith("The service is temporarily unavailable") else "unexpected detail"
        if not self.content_type.startswith("text/html") or "temporarily unavailable" not in self.body:
            return "a 503 without the HTML error page"
        return None


@pytest.fixture
def drill_dir() -> Iterator[Path]:
    with temporary_directory("attache-postgres-drill-") as directory:
        yield directory


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


class Client:
    """http.client against gunicorn, as the proxy would forward it (HTTPS)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.origin = f"https://127.0.0.1:{port}"

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, body: str | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            content = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response, content

    def sign_in(self, username: str, password: str) -> None:
        _, form = self.request("GET", "/accounts/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert match, form[:2000]
        fields = {"csrfmiddlewaretoken": match.group(1), "username": username, "password": password}
        response, body = self.request(
            "POST",
            "/accounts/login/",
            body=urllib.parse.urlencode(fields),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.origin,
                "Referer": f"{self.origin}/accounts/login/",
            },
        )
        assert response.status == 302, body[:2000]
        assert "sessionid" in self.cookies


def _load(port: int, token: str, session: dict[str, str], stop: threading.Event, outcomes: list[Outcome], n: int):
    client = Client(port)
    client.cookies = dict(session)
    paths = [*API_PATHS, *PAGE_PATHS]
    i = n
    while not stop.is_set():
        path = paths[i % len(paths)]
        i += 1
        headers = {"Authorization": f"Token {token}"} if path.startswith("/api/") else {}
        try:
            response, body = client.request("GET", path, headers=headers)
        except (OSError, http.client.HTTPException) as error:
            outcomes.append(Outcome(time.monotonic(), path, 0, "", None, repr(error)))
            continue
        outcomes.append(
            Outcome(
                time.monotonic(),
                path,
                response.status,
                response.getheader("Content-Type", ""),
                response.getheader("Retry-After"),
                body,
            )
        )


def _children(pid: int) -> set[int]:
    return set(servers.child_pids(pid))


def test_postgresql_restarted_under_load_fails_cleanly_and_recovers_without_restarting_the_app(
    drill_dir: Path,
) -> None:
    cluster = PrivatePostgres()
    cluster.start()
    gunicorn: Process | None = None
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        cluster.create_database("attache_faults_drill")
        base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
        setup_env = {
            **base,
            "DJANGO_ENV": "development",  # seed_demo refuses production; test hashes passwords with MD5
            "SECRET_KEY": SECRET_KEY,  # tokens are keyed with it
            "DATABASE_URL": cluster.url("attache_faults_drill"),
        }
        port = free_port()
        production = {
            **setup_env,
            "DJANGO_ENV": "production",
            "ALLOWED_HOSTS": "127.0.0.1",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_MAX_REQUESTS": "0",  # no recycling: the same workers must survive the drill
            "API_THROTTLE_TOKEN": "1000000/min",
            "API_THROTTLE_USER": "1000000/min",
        }
        # Collecting the static files needs no database: meanwhile, migrate and seed.
        collectstatic = Process(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            log=drill_dir / "collectstatic.log",
            env=production,
        )
        _manage(setup_env, "migrate", "--noinput", "-v", "0")
        _manage(setup_env, "seed_demo")
        token = _manage(setup_env, "issue_token", "analyst", "--days", "1").strip().splitlines()[-1]
        assert collectstatic.popen.wait(timeout=300) == 0, collectstatic.text()
        log = drill_dir / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "attache.wsgi"]
        gunicorn = Process(command, log=log, env=production)

        def serving() -> bool:
            try:
                return Client(port).request("GET", "/accounts/login/")[0].status == 200
            except OSError:
                return False

        wait_for(serving, "gunicorn did not start", log=log)
        workers = _children(gunicorn.pid)
        assert len(workers) == 2
        browser = Client(port)
        browser.sign_in("manager", "attache-demo-2016")

        outcomes: list[Outcome] = []
        for n in range(CLIENTS):
            thread = threading.Thread(target=_load, args=(port, token, browser.cookies, stop, outcomes, n))
            thread.start()
            threads.append(thread)

        def seen(since: float, *, api: bool, status: int, count: int = 1) -> bool:
            return sum(o.at > since and o.api == api and o.status == status for o in list(outcomes)) >= count

        def succeeded(since: float) -> bool:
            """Pages and API lists are served again (five of each): the app is under load."""
            return seen(since, api=True, status=200, count=5) and seen(since, api=False, status=200, count=5)

        modes = ["fast", "immediate"] * drill_runs(short=1, full=4)
        restarts: list[tuple[str, float, float]] = []
        wait_for(lambda: succeeded(0), "requests do not succeed", log=log)
        for mode in modes:
            stopped = time.monotonic()
            cluster.stop(mode)
            wait_for(
                lambda since=stopped: seen(since, api=True, status=503) and seen(since, api=False, status=503),
                f"no 503 while PostgreSQL was down (-m {mode})",
                log=log,
            )
            started = time.monotonic()
            cluster.start()
            wait_for(
                lambda since=started: succeeded(since),
                f"requests did not recover after PostgreSQL came back (-m {mode})",
                log=log,
            )
            restarts.append((mode, stopped, time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

        problems = [(o.path, o.status, problem, o.body[:300]) for o in outcomes if (problem := o.problem())]
        text = log.read_text()
        assert not problems, (
            f"{len(problems)} unclean responses of {len(outcomes)}, e.g. {problems[:5]}\n"
            f"gunicorn log:\n{text[text.find('Traceback') - 500 :][:40000] if 'Traceback' in text else text[-3000:]}"
        )
        statuses = collections.Counter(o.status for o in outcomes)
        assert statuses[503] >= 2 * len(modes) and statuses[200] > 0, statuses
        # The app recovered by itself: same master, same workers, nothing restarted.
        assert gunicorn.running()
        assert _children(gunicorn.pid) == workers
        assert "Traceback" not in text, text[-6000:]
        assert "Booting worker" in text and text.count("Booting worker") == 2
        assert "Database unavailable, 503 for GET /api/v1/" in text
        print(
            f"\n{len(outcomes)} requests, {dict(sorted(statuses.items()))}; restarts: "
            + ", ".join(f"-m {mode} {end - start:.1f} s" for mode, start, end in restarts)
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        if gunicorn is not None:
            gunicorn.stop()
        cluster.close()
