"""Load test: `make load` (or `python -m bench.load`).

Mixed traffic for LOAD_SECONDS (default 120) against gunicorn with the production settings
(gunicorn.conf.py, DJANGO_ENV=production) on 127.0.0.1, with a Celery worker (and beat, for
the outbox drain) on Redis, on the database LOAD_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/attache_load: the demo case plus LOAD_ROWS synthetic
activities, default 100,000, loaded once):

- desk officers sign in through the login form, open their activity list, create activities
  through the web form, edit existing ones (the form's hidden version: a stale edit is
  refused with 409 and counted as refused, not as an error), delete and restore their own;
- managers open the overview, relationship dashboards (month, quarter, year) and the
  comparison;
- API clients (tokens) follow `updated_since` sync pages to the end and resume from the last
  `updated_at`; an integration client (a desk officer's token) creates and patches activities
  with If-Match.

Every request's latency and status is recorded per kind. Afterwards every acknowledged write
must be in the database with the acknowledged values and in the audit history with its
author, every sync client must have seen every activity that changed during the run at its
latest change, and the intensity rollups must equal a fresh aggregation once the worker is
idle. Any 5xx, connection error, unexpected status, lost write or sync gap fails the run
(exit status 1). tests/test_load.py runs the same for a few seconds in the suite.

The load generator is threads (http.client) in this process; every virtual user sends
`X-Forwarded-Proto: https` and `X-Forwarded-For` as the reverse proxy of docs/deploy.md would
(TRUSTED_PROXY_COUNT=1), so SSL redirect, secure cookies, CSRF and throttles work as deployed.
"""

from __future__ import annotations

import dataclasses
import datetime
import html.parser
import http.client
import http.cookies
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from bench import servers, setup

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/attache_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
ROWS = int(os.environ.get("LOAD_ROWS", "100000"))
HTTPS = {"X-Forwarded-Proto": "https"}
DESKS = 3  # each with two relationships and two desk officers, so edits can collide
OFFICERS_PER_DESK = 2
MANAGERS = 2
SYNC_CLIENTS = 2
API_WRITERS = 1
TIMEOUT = 60
IDLE_TIMEOUT = 120  # seconds to wait for the worker to catch up after the run


# The cast ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Actor:
    role: str  # officer, manager, sync, writer
    username: str
    user_id: int
    password: str = ""
    token: str = ""
    relationship_ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Cast:
    actors: list[Actor]
    dashboard_relationship_ids: list[int]
    sync_mark: str  # the last change before the run, as the API writes it: syncs resume from here
    run_tag: str
    secret_key: str  # the server's SECRET_KEY: API token digests are keyed with it


def prepare_cast() -> Cast:
    """Desks, users of every role and API tokens, through the services (Django must be set up).

    Users are reused from run to run; their password and tokens are new each time. The
    password hash is made with PBKDF2 whatever this process's settings say, so that the
    production server accepts it (the test settings hash with MD5).
    """
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.db.models import Count, Max
    from django.test import override_settings

    from accounts.models import User
    from accounts.services import token_issue, user_create
    from cooperation import services
    from cooperation.choices import Classification, Role
    from cooperation.models import ActivityChange, Relationship

    busiest = list(
        Relationship.objects.annotate(activity_count=Count("activities"))
        .order_by("-activity_count", "id")
        .values_list("id", flat=True)[: DESKS * 2]
    )
    if len(busiest) < DESKS * 2:
        raise RuntimeError(f"The load test needs at least {DESKS * 2} relationships with activities.")
    password = secrets.token_urlsafe(16)
    secret_key = secrets.token_urlsafe(50)
    pbkdf2 = PBKDF2PasswordHasher()
    hashed = pbkdf2.encode(password, pbkdf2.salt())
    actors: list[Actor] = []

    def user(username: str, role: str, desks: Iterable[Any] = ()) -> User:
        existing = User.objects.filter(username=username).first()
        if existing is None:
            existing, _ = user_create(
                username=username,
                role=role,
                clearance=Classification.RESTRICTED,
                desks=desks,
                password=password,
                validate=False,
            )
        User.objects.filter(pk=existing.pk).update(password=hashed, is_active=True)
        return existing

    for desk_number in range(DESKS):
        relationship_ids = tuple(busiest[desk_number * 2 : desk_number * 2 + 2])
        desk = services.desk_get_or_create(
            name=f"Load desk {desk_number + 1}",
            relationships=Relationship.objects.filter(pk__in=relationship_ids),
        )
        for officer in range(OFFICERS_PER_DESK):
            username = f"load-officer-{desk_number + 1}{'ab'[officer]}"
            officer_user = user(username, Role.DESK_OFFICER, [desk])
            actors.append(Actor("officer", username, officer_user.pk, password, "", relationship_ids))
    for number in range(1, MANAGERS + 1):
        manager = user(f"load-manager-{number}", Role.MANAGER)
        actors.append(Actor("manager", manager.username, manager.pk, password))
    for number in range(1, SYNC_CLIENTS + 1):
        client = user(f"load-sync-{number}", Role.API_CLIENT)
        with override_settings(SECRET_KEY=secret_key):
            token = token_issue(user=client, name="load", days=1)[1]
        actors.append(Actor("sync", client.username, client.pk, token=token))
    first_desk = services.desk_get_or_create(name="Load desk 1")
    for number in range(1, API_WRITERS + 1):
        writer = user(f"load-integration-{number}", Role.DESK_OFFICER, [first_desk])
        with override_settings(SECRET_KEY=secret_key):
            token = token_issue(user=writer, name="load", days=1)[1]
        actors.append(Actor("writer", writer.username, writer.pk, token=token, relationship_ids=tuple(busiest[:2])))
    mark = ActivityChange.objects.aggregate(last=Max("changed_at"))["last"]
    return Cast(
        actors=actors,
        dashboard_relationship_ids=busiest,
        sync_mark=stamp(mark or datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)),
        run_tag=datetime.datetime.now().strftime("%Y%m%d%H%M%S"),
        secret_key=secret_key,
    )


def stamp(moment: datetime.datetime) -> str:
    """A moment as the API writes `updated_at`."""
    from rest_framework import serializers

    return str(serializers.DateTimeField().to_representation(moment))


# Recording ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ack:
    """A write the server acknowledged: what must now be in the database and the history."""

    activity_id: int
    version: int
    actor_id: int
    how: str
    title: str | None = None  # None: the write did not set the title
    deleted: bool = False


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[tuple[float, int, str]]] = defaultdict(list)  # kind → (seconds, status, outcome)
        self.errors: list[str] = []
        self.acks: list[Ack] = []

    def sample(self, kind: str, seconds: float, status: int, outcome: str, problem: str = "") -> None:
        with self.lock:
            self.samples[kind].append((seconds, status, outcome))
            if problem:
                self.errors.append(problem)

    def error(self, problem: str) -> None:
        with self.lock:
            self.errors.append(problem)

    def ack(self, ack: Ack) -> None:
        with self.lock:
            self.acks.append(ack)


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Refused(Exception):
    """The server answered with an expected refusal (e.g. a stale version); nothing to do."""


class Client:
    """One virtual user: its own connection, cookies and client address behind the proxy."""

    def __init__(self, port: int, recorder: Recorder, address: str, token: str = "") -> None:
        self.port = port
        self.recorder = recorder
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.headers = {**HTTPS, "X-Forwarded-For": address}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        expect: Iterable[int] = (200,),
        refused: Iterable[int] = (),
    ) -> Response | None:
        """Send one request and record it; None when it failed (recorded as an error)."""
        sent = {**self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if method == "POST" and "csrftoken" in self.cookies and "Authorization" not in sent:
            sent.update({"Origin": self.origin, "Referer": f"{self.origin}{path}"})
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=sent)
            raw = self.connection.getresponse()
            content = raw.read()
        except (OSError, http.client.HTTPException) as error:
            elapsed = time.perf_counter() - started
            self.connection.close()
            self.recorder.sample(kind, elapsed, 0, "error", f"{kind}: {method} {path}: {error!r}")
            return None
        elapsed = time.perf_counter() - started
        for header in raw.headers.get_all("Set-Cookie") or []:
            cookie = http.cookies.SimpleCookie(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or (morsel.value == "" and morsel["expires"]):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if raw.getheader("Connection", "").lower() == "close":
            self.connection.close()
        response = Response(raw.status, {key.lower(): value for key, value in raw.getheaders()}, content)
        if response.status in tuple(expect):
            self.recorder.sample(kind, elapsed, response.status, "ok")
            return response
        if response.status in tuple(refused):
            self.recorder.sample(kind, elapsed, response.status, "refused")
            raise Refused
        self.recorder.sample(
            kind,
            elapsed,
            response.status,
            "error",
            f"{kind}: {method} {path} answered {response.status}: {response.text[:300]!r}",
        )
        return None

    def close(self) -> None:
        self.connection.close()


# HTML forms ---------------------------------------------------------------------------------


class _FormParser(html.parser.HTMLParser):
    """The POST forms of a page: each as (action, field → values, select → option values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, dict[str, list[str]], dict[str, list[str]]]] = []
        self.current: tuple[str, dict[str, list[str]], dict[str, list[str]]] | None = None
        self.select: tuple[str, bool, list[str]] | None = None  # name, multiple, selected values
        self.textarea: str | None = None
        self.textarea_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("method", "").lower() == "post":
            self.current = (attributes.get("action", ""), defaultdict(list), defaultdict(list))
            self.forms.append(self.current)
        if self.current is None:
            return
        _, fields, options = self.current
        name = attributes.get("name", "")
        if tag == "input" and name:
            kind = attributes.get("type", "text").lower()
            if kind in {"checkbox", "radio"} and "checked" not in attributes:
                return
            if kind not in {"submit", "button", "reset", "file"}:
                fields[name].append(attributes.get("value", "on" if kind in {"checkbox", "radio"} else ""))
        elif tag == "select" and name:
            self.select = (name, "multiple" in attributes, [])
        elif tag == "option" and self.select is not None:
            value = attributes.get("value", "")
            options[self.select[0]].append(value)
            if "selected" in attributes:
                self.select[2].append(value)
        elif tag == "textarea" and name:
            self.textarea, self.textarea_text = name, []

    def handle_endtag(self, tag: str) -> None:
        if self.current is None:
            return
        _, fields, options = self.current
        if tag == "select" and self.select is not None:
            name, multiple, selected = self.select
            if not selected and not multiple and options[name]:
                selected = [options[name][0]]
            fields[name].extend(selected)
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            text = "".join(self.textarea_text)
            fields[self.textarea].append(text.removeprefix("\n"))
            self.textarea = None
        elif tag == "form":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea_text.append(data)


@dataclasses.dataclass
class Form:
    fields: dict[str, list[str]]
    options: dict[str, list[str]]

    def value(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0]

    def set(self, name: str, value: Any) -> None:
        self.fields[name] = [str(value)]

    def choices(self, name: str) -> list[str]:
        return [value for value in self.options.get(name, []) if value]

    def encoded(self) -> bytes:
        return urllib.parse.urlencode(
            [(name, value) for name, values in self.fields.items() for value in values]
        ).encode()


def form_with(page: Response, field: str) -> Form:
    """The page's POST form that has `field`."""
    parser = _FormParser()
    parser.feed(page.text)
    for _, fields, options in parser.forms:
        if field in fields:
            return Form(dict(fields), dict(options))
    raise ValueError(f"no form with a {field!r} field on the page")


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
# A row's link carries the list's query (`?back=…`, cooperation/back.py).
ACTIVITY_LINK = re.compile(r'href="/activities/(\d+)/(?:\?[^"]*)?"')


# Virtual users --------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    port: int
    cast: Cast
    recorder: Recorder
    stop_at: float
    rng_seed: int = 2016

    def running(self) -> bool:
        return time.monotonic() < self.stop_at


def think(rng: random.Random, low: float, high: float) -> None:
    time.sleep(rng.uniform(low, high))


def sign_in(client: Client, actor: Actor, who: str) -> bool:
    page = client.request(f"{who}: sign-in form", "GET", "/accounts/login/")
    if page is None:
        return False
    form = form_with(page, "username")
    form.set("username", actor.username)
    form.set("password", actor.password)
    done = client.request(
        f"{who}: sign in", "POST", "/accounts/login/", body=form.encoded(), headers=FORM_HEADERS, expect=(302,)
    )
    if done is not None and "sessionid" not in client.cookies:
        client.recorder.error(f"{who} {actor.username}: signed in without a session cookie")
    return done is not None and "sessionid" in client.cookies


def officer(run: Run, actor: Actor, address: str) -> None:
    rng = random.Random(f"{run.rng_seed}-{actor.username}")
    client = Client(run.port, run.recorder, address)
    if not sign_in(client, actor, "officer"):
        return
    listed: list[int] = []
    mine: dict[int, bool] = {}  # activity id → deleted, for the ones this officer created
    count = 0
    while run.running():
        count += 1
        choice = rng.random()
        try:
            if choice < 0.2 or not listed:
                relationship = rng.choice(actor.relationship_ids)
                page = client.request("officer: activity list", "GET", f"/activities/?relationship={relationship}")
                if page is not None:
                    listed = [int(pk) for pk in ACTIVITY_LINK.findall(page.text)]
            elif choice < 0.45:
                created = officer_create(run, client, actor, rng, count)
                if created is not None:
                    mine[created] = False
            elif choice < 0.9:
                candidates = listed + [pk for pk, deleted in mine.items() if not deleted]
                officer_edit(run, client, actor, rng.choice(candidates), count)
            elif choice < 0.95:
                alive = [pk for pk, deleted in mine.items() if not deleted]
                if alive:
                    pk = rng.choice(alive)
                    mine[pk] = officer_action(run, client, actor, pk, "delete")
            else:
                client.request("officer: deleted list", "GET", "/activities/deleted/")
                gone = [pk for pk, deleted in mine.items() if deleted]
                if gone:
                    pk = rng.choice(gone)
                    mine[pk] = not officer_action(run, client, actor, pk, "restore")
        except Refused:
            pass
        except Exception as error:  # a generator bug must fail the run, not hide
            run.recorder.error(f"officer {actor.username}: {error!r}")
        think(rng, 0.05, 0.3)
    client.close()


def officer_create(run: Run, client: Client, actor: Actor, rng: random.Random, count: int) -> int | None:
    page = client.request("officer: new activity form", "GET", "/activities/new/")
    if page is None:
        return None
    form = form_with(page, "title")
    title = f"Load {run.cast.run_tag} {actor.username} activity {count}"
    start = datetime.date(2016, 1, 1) + datetime.timedelta(days=rng.randrange(3650))
    for name in ("relationship", "area", "kind", "level", "status", "releasability"):
        form.set(name, rng.choice(form.choices(name)))
    form.set("title", title)
    form.set("start_date", start.isoformat())
    form.set("end_date", (start + datetime.timedelta(days=rng.randrange(10))).isoformat())
    form.set("participants", rng.randrange(40))
    form.set("location", "Minsk")
    form.set("counterpart", "Ministry of Defence")
    form.set("description", "Created by the load test.")
    form.set("accreditation", "")
    saved = client.request(
        "officer: create activity", "POST", "/activities/new/", body=form.encoded(), headers=FORM_HEADERS, expect=(302,)
    )
    if saved is None:
        return None
    pk = int(re.fullmatch(r".*/activities/(\d+)/", saved.headers["location"]).group(1))  # type: ignore[union-attr]
    run.recorder.ack(Ack(pk, 1, actor.user_id, "web create", title=title))
    client.request("officer: activity detail", "GET", f"/activities/{pk}/")
    return pk


def edited_title(title: str, verb: str, run: Run, count: int, actor: Actor) -> str:
    """A title that differs from every earlier one, so that every save is a change."""
    return f"{title.split(' · ')[0][:150]} · {verb} {run.cast.run_tag}-{count} by {actor.username}"


def officer_edit(run: Run, client: Client, actor: Actor, pk: int, count: int) -> None:
    page = client.request("officer: edit form", "GET", f"/activities/{pk}/edit/", expect=(200, 302))
    if page is None or page.status == 302:  # deleted meanwhile: the page sends the user to the record
        return
    form = form_with(page, "version")
    version = int(form.value("version"))
    title = edited_title(form.value("title"), "edit", run, count, actor)
    form.set("title", title)
    saved = client.request(
        "officer: save edit",
        "POST",
        f"/activities/{pk}/edit/",
        body=form.encoded(),
        headers=FORM_HEADERS,
        expect=(302,),
        refused=(409,),  # someone saved first: the form comes back with their changes
    )
    if saved is not None:
        run.recorder.ack(Ack(pk, version + 1, actor.user_id, "web edit", title=title))


def officer_action(run: Run, client: Client, actor: Actor, pk: int, action: str) -> bool:
    """Delete or restore one of the officer's own activities; True when done (a stale
    version raises Refused: an edit by the other officer of the desk came first)."""
    page = client.request(f"officer: {action} confirmation", "GET", f"/activities/{pk}/{action}/")
    if page is None:
        return False
    form = form_with(page, "version")
    version = int(form.value("version"))
    done = client.request(
        f"officer: {action}",
        "POST",
        f"/activities/{pk}/{action}/",
        body=form.encoded(),
        headers=FORM_HEADERS,
        expect=(302,),
        refused=(409,),
    )
    if done is None:
        return False
    run.recorder.ack(Ack(pk, version + 1, actor.user_id, f"web {action}", deleted=action == "delete"))
    return True


# In turn, so that even a short run opens each: 30 % overview, 50 % a relationship, 20 % comparison.
MANAGER_PAGES = tuple({"o": "overview", "r": "relationship", "c": "comparison"}[page] for page in "ororcrorcr")


def manager(run: Run, actor: Actor, address: str) -> None:
    rng = random.Random(f"{run.rng_seed}-{actor.username}")
    client = Client(run.port, run.recorder, address)
    if not sign_in(client, actor, "manager"):
        return
    step = 0
    while run.running():
        page = MANAGER_PAGES[step % len(MANAGER_PAGES)]
        step += 1
        try:
            if page == "overview":
                client.request("manager: overview", "GET", "/dashboard/")
            elif page == "relationship":
                relationship = rng.choice(run.cast.dashboard_relationship_ids)
                granularity = rng.choice(("month", "quarter", "year"))
                client.request(
                    "manager: relationship dashboard",
                    "GET",
                    f"/dashboard/relationships/{relationship}/?granularity={granularity}",
                )
            else:
                granularity = rng.choice(("quarter", "year"))
                client.request("manager: comparison", "GET", f"/dashboard/comparison/?granularity={granularity}")
        except Exception as error:
            run.recorder.error(f"manager {actor.username}: {error!r}")
        think(rng, 0.2, 0.8)
    client.close()


@dataclasses.dataclass
class SyncState:
    """What one sync client has seen: id → (updated_at, deleted, version)."""

    mark: str
    seen: dict[int, tuple[str, bool, int | None]] = dataclasses.field(default_factory=dict)
    walks: int = 0


def sync_walk(client: Client, state: SyncState, kind: str) -> bool:
    """Follow the sync from the mark to the end; the mark becomes the last `updated_at` received."""
    path: str | None = f"/api/v1/activities/?updated_since={urllib.parse.quote(state.mark)}&page_size=100"
    last = None
    while path:
        page = client.request(kind, "GET", path, headers={"Accept": "application/json"})
        if page is None:
            return False
        data = page.json()
        for row in data["results"]:
            state.seen[row["id"]] = (row["updated_at"], bool(row.get("deleted")), row.get("version"))
            last = row["updated_at"]
        following = data["next"]
        path = urllib.parse.urlsplit(following)._replace(scheme="", netloc="").geturl() if following else None
    if last is not None:
        state.mark = last
    state.walks += 1
    return True


def sync_client(run: Run, actor: Actor, address: str, state: SyncState) -> None:
    rng = random.Random(f"{run.rng_seed}-{actor.username}")
    client = Client(run.port, run.recorder, address, token=actor.token)
    while run.running():
        try:
            sync_walk(client, state, "api: sync page")
            if rng.random() < 0.3:
                client.request(
                    "api: filtered list",
                    "GET",
                    "/api/v1/activities/?area=education&status=conducted&page_size=100",
                    headers={"Accept": "application/json"},
                )
        except Exception as error:
            run.recorder.error(f"sync {actor.username}: {error!r}")
        think(rng, 0.3, 1.0)
    client.close()


def api_writer(run: Run, actor: Actor, address: str) -> None:
    rng = random.Random(f"{run.rng_seed}-{actor.username}")
    client = Client(run.port, run.recorder, address, token=actor.token)
    pool: list[int] = []
    count = 0
    while run.running():
        count += 1
        try:
            if not pool or rng.random() < 0.1:
                relationship = rng.choice(actor.relationship_ids)
                page = client.request(
                    "api: list for edits",
                    "GET",
                    f"/api/v1/activities/?relationship={relationship}&page_size=25",
                    headers={"Accept": "application/json"},
                )
                if page is not None:
                    pool = [row["id"] for row in page.json()["results"]]
            elif rng.random() < 0.4:
                title = f"Load {run.cast.run_tag} {actor.username} activity {count}"
                start = datetime.date(2016, 1, 1) + datetime.timedelta(days=rng.randrange(3650))
                payload = {
                    "relationship": rng.choice(actor.relationship_ids),
                    "area": rng.choice(("peacekeeping", "education", "demining", "medicine")),
                    "title": title,
                    "kind": rng.choice(("course", "seminar", "visit", "training")),
                    "level": rng.choice(("working", "senior")),
                    "status": rng.choice(("planned", "confirmed", "conducted")),
                    "start_date": start.isoformat(),
                    "participants": rng.randrange(40),
                    "releasability": rng.choice(("public", "internal")),
                }
                created = client.request(
                    "api: create", "POST", "/api/v1/activities/", body=json.dumps(payload).encode(),
                    headers=JSON_HEADERS, expect=(201,),
                )  # fmt: skip
                if created is not None:
                    body = created.json()
                    run.recorder.ack(Ack(body["id"], body["version"], actor.user_id, "api create", title=title))
                    pool.append(body["id"])
            else:
                pk = rng.choice(pool)
                record = client.request(
                    "api: detail", "GET", f"/api/v1/activities/{pk}/", headers={"Accept": "application/json"},
                    expect=(200,), refused=(404,),
                )  # fmt: skip
                if record is not None:
                    title = edited_title(record.json()["title"], "patch", run, count, actor)
                    patched = client.request(
                        "api: patch", "PATCH", f"/api/v1/activities/{pk}/", body=json.dumps({"title": title}).encode(),
                        headers={**JSON_HEADERS, "If-Match": record.headers["etag"]}, refused=(412, 404),
                    )  # fmt: skip
                    if patched is not None:
                        body = patched.json()
                        run.recorder.ack(Ack(pk, body["version"], actor.user_id, "api patch", title=title))
        except Refused:
            pass
        except Exception as error:
            run.recorder.error(f"integration {actor.username}: {error!r}")
        think(rng, 0.05, 0.3)
    client.close()


# Running it all ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    seconds: float
    recorder: Recorder
    failures: list[str]
    sync_states: dict[str, SyncState]
    recycled_workers: int  # gunicorn workers that reached max_requests and were replaced during the run


def production_env(database_url: str, redis_url: str, secret_key: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_url,
        "CACHE_URL": redis_url,
        "TRUSTED_PROXY_COUNT": "1",
        "LOG_LEVEL": "WARNING",
    }


def collect_static(env: dict[str, str]) -> None:
    """The production settings serve hashed, compressed static files: collect them first."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=servers.ROOT, env=env, check=True
    )


def run(cast: Cast, *, database_url: str, redis_url: str, seconds: float, port: int, out: TextIO) -> Result:
    """Start the worker and gunicorn, send the traffic, check everything, stop them all."""
    import redis

    broker = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
    broker.flushdb()  # the load test's own database: no tasks left from an earlier run
    env = production_env(database_url, redis_url, cast.secret_key)
    preparing = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="attache-load-"))
    worker_log, server_log = (logs / "worker.log").open("w"), (logs / "gunicorn.log").open("w")
    worker = servers.start_celery_worker(env, worker_log, beat=True)
    server = None
    failures = ["the run did not finish"]
    try:
        collect_static(env)
        server = servers.start_gunicorn(
            port, env, output=server_log, ready_path="/accounts/login/", ready_headers=HTTPS
        )
        _wait(lambda: " ready." in (logs / "worker.log").read_text(), "the Celery worker did not start", 60)
        print(
            f"gunicorn (gunicorn.conf.py, DJANGO_ENV=production) on 127.0.0.1:{port} with "
            f"{len(servers.child_pids(server.pid))} workers; Celery worker + beat on {redis_url}; "
            f"{len(cast.actors)} virtual users for {seconds:.0f} s "
            f"(static files, server and worker ready in {time.monotonic() - preparing:.1f} s)",
            file=out,
            flush=True,
        )
        recorder = Recorder()
        sync_states = {actor.username: SyncState(cast.sync_mark) for actor in cast.actors if actor.role == "sync"}
        started = time.monotonic()
        load = Run(port=port, cast=cast, recorder=recorder, stop_at=started + seconds)
        threads = []
        for number, actor in enumerate(cast.actors, start=1):
            address = f"10.1.0.{number}"
            target: Callable[..., None]
            args: tuple[Any, ...] = (load, actor, address)
            if actor.role == "officer":
                target = officer
            elif actor.role == "manager":
                target = manager
            elif actor.role == "writer":
                target = api_writer
            else:
                target, args = sync_client, (*args, sync_states[actor.username])
            threads.append(threading.Thread(target=target, args=args, name=actor.username, daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 2 * TIMEOUT)
        elapsed = time.monotonic() - started
        stuck = [thread.name for thread in threads if thread.is_alive()]
        failures = [f"virtual user {name} still running after the run" for name in stuck]
        # The sync clients read to the end once more: everything written is committed now.
        for actor in cast.actors:
            if actor.role == "sync":
                client = Client(port, recorder, "10.1.1.1", token=actor.token)
                sync_walk(client, sync_states[actor.username], "api: final sync page")
                client.close()
        checking = time.monotonic()
        failures += verify(cast, recorder, sync_states, broker)
        print(f"Checks (final sync, writes, history, rollups) took {time.monotonic() - elapsed - started:.1f} s; "
              f"the worker was idle and the rollups checked after {time.monotonic() - checking:.1f} s",
              file=out, flush=True)  # fmt: skip
        recycled = (logs / "gunicorn.log").read_text().count("Autorestarting worker")
        return Result(elapsed, recorder, failures, sync_states, recycled)
    finally:
        if server is not None:
            servers.stop(server)
        servers.stop(worker)
        worker_log.close()
        server_log.close()
        broker.flushdb()
        broker.close()
        if failures:
            print(f"Server and worker logs kept in {logs}", file=out)
        else:
            shutil.rmtree(logs)


def _wait(condition: Callable[[], bool], message: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{message} within {timeout:.0f} s")


# Checks ---------------------------------------------------------------------------------------


def verify(cast: Cast, recorder: Recorder, sync_states: dict[str, SyncState], broker: Any) -> list[str]:
    failures = [f"request failed: {problem}" for problem in recorder.errors[:20]]
    if len(recorder.errors) > 20:
        failures.append(f"… and {len(recorder.errors) - 20} more failed requests")
    failures += verify_writes(recorder.acks)
    failures += verify_sync(cast, sync_states)
    failures += verify_rollups(broker)
    return failures


def verify_writes(acks: list[Ack]) -> list[str]:
    """Every acknowledged write is in the history (version, title, deletion, author), and the
    database holds the last acknowledged state of every activity written."""
    from django.apps import apps

    from cooperation.models import Activity

    event_model: Any = apps.get_model("cooperation", "ActivityEvent")
    ids = {ack.activity_id for ack in acks}
    events: dict[tuple[int, int], list[tuple[str, bool, Any]]] = defaultdict(list)
    for obj_id, version, title, deleted_at, context in event_model.objects.filter(pgh_obj_id__in=ids).values_list(
        "pgh_obj_id", "version", "title", "deleted_at", "pgh_context__metadata"
    ):
        events[(obj_id, version)].append((title, deleted_at is not None, (context or {}).get("user")))
    failures = []
    versions: dict[tuple[int, int], list[Ack]] = defaultdict(list)
    for ack in acks:
        versions[(ack.activity_id, ack.version)].append(ack)
    failures += [
        f"lost update: {len(same)} writes acknowledged as one version: {same}"
        for same in versions.values()
        if len(same) > 1
    ]
    for ack in acks:
        found = events.get((ack.activity_id, ack.version), [])
        if not any(
            (ack.title is None or title == ack.title) and deleted == ack.deleted and user == ack.actor_id
            for title, deleted, user in found
        ):
            failures.append(f"lost from the history: {ack} (events of that version: {found})")
    rows = {
        row["id"]: row for row in Activity.objects.filter(pk__in=ids).values("id", "version", "title", "deleted_at")
    }
    latest: dict[int, Ack] = {}
    titles: dict[int, Ack] = {}
    for ack in sorted(acks, key=lambda ack: ack.version):
        latest[ack.activity_id] = ack
        if ack.title is not None:
            titles[ack.activity_id] = ack
    for pk, ack in latest.items():
        row = rows.get(pk)
        if row is None:
            failures.append(f"lost write: activity {pk} is not in the database ({ack})")
            continue
        title = titles[pk].title if pk in titles else row["title"]
        if (row["version"], row["deleted_at"] is not None, row["title"]) != (ack.version, ack.deleted, title):
            failures.append(f"lost write: activity {pk} is {row}, the last acknowledged write was {ack}")
    return failures


def verify_sync(cast: Cast, sync_states: dict[str, SyncState]) -> list[str]:
    """Each sync client saw every activity changed since the mark, at its latest change:
    alive ones as the record, deleted ones as a tombstone unless it never held them."""
    from cooperation.models import Activity, ActivityChange

    since = datetime.datetime.fromisoformat(cast.sync_mark)
    changes: dict[int, datetime.datetime] = {
        pk: changed_at
        for pk, changed_at in ActivityChange.objects.filter(changed_at__gt=since).values_list(
            "activity_id", "changed_at"
        )
        if changed_at is not None
    }
    rows = {row["id"]: row for row in Activity.objects.filter(pk__in=changes).values("id", "version", "deleted_at")}
    failures = []
    for name, state in sync_states.items():
        missing = []
        for pk, changed_at in changes.items():
            row = rows.get(pk)
            expected = (stamp(changed_at), True, None) if row is None or row["deleted_at"] else (
                stamp(changed_at), False, row["version"]
            )  # fmt: skip
            seen = state.seen.get(pk)
            # A record created and deleted between two of the client's walks never reached
            # it, so no tombstone is owed (docs/decisions.md, "Exact sync tombstones"); one
            # it was sent alive must come back as a tombstone.
            never_held = seen is None and expected[1]
            if seen != expected and not never_held:
                missing.append(f"{pk} (expected {expected}, seen {seen})")
        if missing:
            failures.append(f"sync gap: {name} missed {len(missing)} of {len(changes)} changes: {missing[:5]}")
    return failures


def verify_rollups(broker: Any) -> list[str]:
    """Once the worker has drained its queue and the outbox, the rollups equal a fresh aggregation."""
    from django.db import connection

    from cooperation.intensity import fresh_aggregation, stored_rollups
    from cooperation.models import WeightSet

    weight_set_id = WeightSet.objects.active().pk
    deadline = time.monotonic() + IDLE_TIMEOUT
    stored: dict[Any, Any] = {}
    fresh: dict[Any, Any] = {}
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM cooperation_intensityoutbox")
            outbox = cursor.fetchone()[0]
        queued = broker.llen("celery")
        if outbox == 0 and queued == 0:
            stored, fresh = stored_rollups(weight_set_id=weight_set_id), fresh_aggregation(weight_set_id=weight_set_id)
            if stored == fresh:
                return []
        if time.monotonic() > deadline:
            differing = [key for key in stored.keys() | fresh.keys() if stored.get(key) != fresh.get(key)]
            return [
                f"rollups differ from a fresh aggregation {IDLE_TIMEOUT} s after the run "
                f"(outbox {outbox}, queued tasks {queued}; differing keys: {differing[:5]})"
            ]
        time.sleep(1)


# The report ---------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def table(result: Result) -> str:
    header = ("count", "req/s", "p50 ms", "p99 ms", "max ms", "refused", "errors")
    lines = [f"{'request':<34} " + " ".join(f"{name:>7}" for name in header)]
    everything: list[float] = []
    refused_total = errors_total = 0
    for kind in sorted(result.recorder.samples, key=_kind_order):
        samples = result.recorder.samples[kind]
        timings = [seconds * 1000 for seconds, _, _ in samples]
        refused = sum(1 for _, _, outcome in samples if outcome == "refused")
        errors = sum(1 for _, _, outcome in samples if outcome == "error")
        if not kind.startswith("api: final"):
            everything += timings
        refused_total += refused
        errors_total += errors
        lines.append(
            f"{kind:<34} {len(samples):>7} {len(samples) / result.seconds:>7.1f} {percentile(timings, 0.5):>7.1f} "
            f"{percentile(timings, 0.99):>7.1f} {max(timings):>7.1f} {refused:>7} {errors:>7}"
        )
    if everything:
        lines.append(
            f"{'all (during the run)':<34} {len(everything):>7} {len(everything) / result.seconds:>7.1f} "
            f"{percentile(everything, 0.5):>7.1f} {percentile(everything, 0.99):>7.1f} {max(everything):>7.1f} "
            f"{refused_total:>7} {errors_total:>7}"
        )
    return "\n".join(lines)


def _kind_order(kind: str) -> tuple[int, str]:
    return ({"officer": 0, "manager": 1, "api": 2}.get(kind.split(":")[0], 3), kind)


def summary(result: Result) -> str:
    by_how: dict[str, int] = defaultdict(int)
    for ack in result.recorder.acks:
        by_how[ack.how] += 1
    writes = ", ".join(f"{count} {how}" for how, count in sorted(by_how.items()))
    syncs = ", ".join(
        f"{name}: {state.walks} walks, {len(state.seen)} activities seen" for name, state in result.sync_states.items()
    )
    return (
        f"acknowledged writes checked: {len(result.recorder.acks)} ({writes})\nsync clients: {syncs}\n"
        f"gunicorn workers recycled (max_requests) during the run: {result.recycled_workers}"
    )


def main() -> int:
    # Killed (e.g. make interrupted by a CI timeout): stop the servers too, through `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seconds = float(os.environ.get("LOAD_SECONDS", "120"))
    url = os.environ.get("LOAD_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("LOAD_REDIS_URL", DEFAULT_REDIS_URL)
    port = int(os.environ.get("LOAD_PORT", "0")) or servers.free_port()
    setup.prepare(url, rows=ROWS)
    cast = prepare_cast()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S607
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}; uptime before: {uptime}", flush=True)
    result = run(cast, database_url=url, redis_url=redis_url, seconds=seconds, port=port, out=sys.stdout)
    print(table(result))
    print(summary(result))
    if result.failures:
        print(f"\nLOAD TEST FAILED ({len(result.failures)} problems):")
        for failure in result.failures:
            print(f"  - {failure}")
        return 1
    print("\nLoad test passed: no 5xx, no connection error, no lost write, no sync gap; rollups caught up.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
