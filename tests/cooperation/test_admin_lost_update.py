"""Admin change forms do not silently overwrite a change saved after they were loaded.

Every admin that can change records either carries `LostUpdateGuard` (a signed token of
the state the form was loaded from, checked under a row lock) or a form that checks the
record's `version` (activities, accreditations).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core import signing
from django.db import connection
from django.db.models import Model
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from pghistory.models import Events

from accounts.models import User
from attache.lost_update_admin import LOADED_STATE_FIELD, LostUpdateGuard
from cooperation import weight_sets
from cooperation.choices import WeightSetStatus
from cooperation.models import Accreditation, CooperationArea, DeskOfficer, Relationship, WeightSet
from tests.conftest import World
from tests.factories import AccreditationFactory, AttacheFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db


class _FormFields(HTMLParser):
    """What a browser would send from the admin's change form: its inputs, checked boxes,
    selected options and text areas (the inline's `__prefix__` template rows included, as
    a browser sends them; Django ignores those)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form" and found.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form or ("name" not in found and tag != "option"):
            return
        if tag == "input":
            kind = found.get("type", "text")
            if kind in ("submit", "button", "file") or (kind in ("checkbox", "radio") and "checked" not in found):
                return
            self._add(found["name"], found.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select":
            self._select = found["name"]
            self.data.setdefault(found["name"], [])
        elif tag == "option" and self._select is not None and "selected" in found:
            self._add(self._select, found.get("value", ""))
        elif tag == "textarea":
            self._textarea = found["name"]
            self._add(found["name"], "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[self._textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            if self._textarea is not None:
                # The template puts a newline after <textarea>, which browsers drop.
                self.data[self._textarea][-1] = self.data[self._textarea][-1].removeprefix("\n")
            self._textarea = None


def form_data(response: HttpResponse) -> dict[str, Any]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    return {name: values if len(values) != 1 else values[0] for name, values in parser.data.items()}


def errors(response: HttpResponse) -> str:
    """The form's error list as text (the page's only message on a refusal)."""
    found = re.findall(r'<ul class="errorlist nonfield">(.*?)</ul>', response.content.decode(), re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in found)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@dataclass
class Case:
    """One admin: a record, the change someone saves first, the change made from a form
    loaded before it, and the label the refusal names."""

    model: str
    make: Callable[[World], Any]
    first: dict[str, Any]
    second: dict[str, Any]
    label: str
    read: Callable[[Model], Any]


def _weight_set(world: World) -> WeightSet:
    return weight_sets.weight_set_create(
        actor=world.admin, name="Draft weights", description="", level_weights={}, area_weights={}
    )


CASES = [
    Case(
        "cooperation.post",
        lambda world: PostFactory(name="US Embassy Kyiv", sending_country="US", host_country="UA", city="Kyiv"),
        {"city": "Kiev"},
        {"name": "US Embassy in Kyiv"},
        "City",
        lambda post: (post.name, post.city),
    ),
    Case(
        "cooperation.attache",
        lambda world: AttacheFactory(name="John Doe", rank="Colonel", sending_country="US"),
        {"rank": "Brigadier General"},
        {"name": "John H. Doe"},
        "Rank",
        lambda attache: (attache.name, attache.rank),
    ),
    Case(
        "cooperation.relationship",
        lambda world: world.rel_a,
        {"notes": "Agreed on concurrent accreditation."},
        {"notes": "Talks resumed."},
        "Notes",
        lambda relationship: relationship.notes,
    ),
    Case(
        "cooperation.cooperationarea",
        lambda world: CooperationArea.objects.get(code="demining"),
        {"description": "Humanitarian demining only."},
        {"name": "Demining assistance"},
        "Description",
        lambda area: (area.name, area.description),
    ),
    Case(
        "cooperation.desk",
        lambda world: world.desk_a,
        {"description": "Eastern Europe"},
        {"name": "Desk East"},
        "Description",
        lambda desk: (desk.name, desk.description),
    ),
    Case(
        "cooperation.weightset",
        _weight_set,
        {"protocol_weight": "1.500"},
        {"description": "Protocol counts less."},
        "Weight of protocol level",
        lambda weight_set: (weight_set.description, weight_set.protocol_weight),
    ),
    Case(
        "accounts.user",
        lambda world: UserFactory(username="leaver", email="old@example.org"),
        {"email": "new@example.org"},
        {"first_name": "Lee"},
        "Email address",
        lambda user: (user.email, user.first_name),
    ),
]


def change_url(model: str, obj: Model) -> str:
    app, name = model.split(".")
    return reverse(f"admin:{app}_{name}_change", args=[obj.pk])


def counts() -> tuple[int, int]:
    """Admin log entries and history events: a refused save adds to neither."""
    return LogEntry.objects.count(), Events.objects.count()


@pytest.mark.parametrize("case", CASES, ids=[case.model for case in CASES])
def test_a_second_save_from_a_form_loaded_before_the_first_is_refused(world: World, case: Case) -> None:
    obj = case.make(world)
    url = change_url(case.model, obj)
    first, second = signed_in(world.admin), signed_in(world.admin)
    first_form, second_form = form_data(first.get(url)), form_data(second.get(url))
    assert first_form[LOADED_STATE_FIELD] == second_form[LOADED_STATE_FIELD]

    saved = first.post(url, first_form | case.first)
    assert saved.status_code == 302, errors(saved)
    obj.refresh_from_db()
    after_first = case.read(obj)
    before = counts()

    refused = second.post(url, second_form | case.second, follow=True)

    assert refused.status_code == 200 and refused.redirect_chain == []
    message = errors(refused)
    noun = obj._meta.verbose_name
    assert f"Someone else changed this {noun} after you opened it: {case.label} (now “" in message
    assert "Nothing was saved" in message
    content = refused.content.decode()
    assert "was changed successfully" not in content
    obj.refresh_from_db()
    assert case.read(obj) == after_first  # the first save stays; nothing of the second landed
    assert counts() == before  # no log entry, no history event
    # The user's entries are still in the form, which now carries the current state:
    # saving it again is a deliberate overwrite.
    again = form_data(refused)
    for name, value in case.second.items():
        assert again[name] == value
    assert again[LOADED_STATE_FIELD] != second_form[LOADED_STATE_FIELD]
    overwritten = second.post(url, again)
    assert overwritten.status_code == 302, errors(overwritten)
    obj.refresh_from_db()
    assert case.read(obj) != after_first
    assert LogEntry.objects.count() == before[0] + 1


@pytest.mark.parametrize("case", CASES, ids=[case.model for case in CASES])
def test_a_save_from_a_fresh_form_goes_through(world: World, case: Case) -> None:
    obj = case.make(world)
    url = change_url(case.model, obj)
    client = signed_in(world.admin)
    client.post(url, form_data(client.get(url)) | case.first)
    obj.refresh_from_db()
    after_first = case.read(obj)

    response = client.post(url, form_data(client.get(url)) | case.second, follow=True)

    assert "was changed successfully" in response.content.decode(), errors(response)
    obj.refresh_from_db()
    assert case.read(obj) != after_first
    for name, value in (case.first | case.second).items():
        assert str(getattr(obj, name)) == value


@pytest.mark.parametrize("case", CASES, ids=[case.model for case in CASES])
@pytest.mark.parametrize("token", ["missing", "tampered", "another record's"])
def test_a_form_without_a_valid_state_token_is_refused(world: World, case: Case, token: str) -> None:
    obj = case.make(world)
    url = change_url(case.model, obj)
    client = signed_in(world.admin)
    data = form_data(client.get(url)) | case.second
    if token == "missing":
        del data[LOADED_STATE_FIELD]
    elif token == "tampered":
        payload = signing.Signer(salt=f"attache.admin.loaded-state.{case.model}").unsign_object(
            data[LOADED_STATE_FIELD]
        )
        data[LOADED_STATE_FIELD] = signing.Signer(salt="another salt").sign_object(payload, compress=True)
    else:
        other = (
            obj.__class__.objects.exclude(pk=obj.pk).first()
            or {"cooperation.post": PostFactory, "cooperation.attache": AttacheFactory}[case.model]()
        )
        data[LOADED_STATE_FIELD] = form_data(client.get(change_url(case.model, other)))[LOADED_STATE_FIELD]
    before_value, before = case.read(obj), counts()

    response = client.post(url, data)

    assert response.status_code == 200
    expected = "was sent without the state" if token == "missing" else "could not be verified"
    assert expected in errors(response) and "Nothing was saved" in errors(response)
    obj.refresh_from_db()
    assert case.read(obj) == before_value
    assert counts() == before


def test_adding_a_record_needs_no_token(world: World) -> None:
    client = signed_in(world.admin)
    url = reverse("admin:cooperation_post_add")
    assert LOADED_STATE_FIELD not in form_data(client.get(url))
    response = client.post(
        url, {"name": "BY Embassy Havana", "sending_country": "BY", "host_country": "CU", "city": "Havana"}
    )
    assert response.status_code == 302


# Inlines and related rows ----------------------------------------------------------------


def officers_of(desk: Any) -> list[str]:
    return sorted(DeskOfficer.objects.filter(desk=desk).values_list("user__username", flat=True))


def test_a_desk_officer_added_meanwhile_refuses_a_stale_desk_form(world: World) -> None:
    desk, url = world.desk_a, change_url("cooperation.desk", world.desk_a)
    newcomer = UserFactory(username="newcomer")
    first, second = signed_in(world.admin), signed_in(world.admin)
    first_form, second_form = form_data(first.get(url)), form_data(second.get(url))
    # The first admin fills the inline's empty row with a new officer.
    prefix = "deskofficer_set"
    blank = int(first_form[f"{prefix}-INITIAL_FORMS"])
    saved = first.post(url, first_form | {f"{prefix}-{blank}-user": newcomer.pk, f"{prefix}-{blank}-desk": desk.pk})
    assert saved.status_code == 302, errors(saved)
    assert officers_of(desk) == ["newcomer", "officer_a"]
    before = counts()

    refused = second.post(url, second_form | {"description": "Eastern Europe"})

    assert "Someone else changed this desk after you opened it: Desk officers (now “" in errors(refused)
    desk.refresh_from_db()
    assert desk.description == "" and officers_of(desk) == ["newcomer", "officer_a"]
    assert counts() == before


def test_a_stale_desk_form_does_not_remove_an_officer_or_save_its_own_inline_rows(world: World) -> None:
    """The second form deletes an officer and adds another while the first renamed the desk:
    neither the inline deletion nor the addition is saved."""
    desk, url = world.desk_a, change_url("cooperation.desk", world.desk_a)
    other = UserFactory(username="other_officer")
    first, second = signed_in(world.admin), signed_in(world.admin)
    first_form, second_form = form_data(first.get(url)), form_data(second.get(url))
    assert first.post(url, first_form | {"name": "Desk East"}).status_code == 302
    prefix = "deskofficer_set"
    blank = int(second_form[f"{prefix}-INITIAL_FORMS"])
    before = counts()

    refused = second.post(
        url,
        second_form
        | {f"{prefix}-0-DELETE": "on", f"{prefix}-{blank}-user": other.pk, f"{prefix}-{blank}-desk": desk.pk},
    )

    assert "Someone else changed this desk after you opened it: Name (now “Desk East”)" in errors(refused)
    assert officers_of(desk) == ["officer_a"]
    assert counts() == before


def test_a_relationship_added_to_the_desk_meanwhile_is_named(world: World) -> None:
    desk, url = world.desk_a, change_url("cooperation.desk", world.desk_a)
    client = signed_in(world.admin)
    loaded = form_data(client.get(url))
    desk.relationships.add(world.rel_b)  # another admin's save, as the inline would write it

    refused = client.post(url, loaded | {"description": "Eastern Europe"})

    assert "Desk relationships (now “" in errors(refused)
    desk.refresh_from_db()
    assert desk.description == ""
    assert set(desk.relationships.all()) == {world.rel_a, world.rel_b}


def test_rows_a_read_only_inline_only_shows_do_not_refuse_the_form(world: World) -> None:
    """An attaché's accreditations are listed, not edited, on its form: one requested or
    changed meanwhile is not a change the attaché form could overwrite."""
    attache = AttacheFactory(sending_country="US")
    accreditation = AccreditationFactory(
        attache=attache, post=PostFactory(sending_country="US", host_country="BY", city="Minsk")
    )
    url = change_url("cooperation.attache", attache)
    client = signed_in(world.admin)
    loaded = form_data(client.get(url))
    Accreditation.objects.filter(pk=accreditation.pk).update(notes="Changed elsewhere")
    AccreditationFactory(
        attache=attache,
        post=PostFactory(sending_country="US", host_country="CU", city="Havana"),
        status="requested",
        agrement_on=None,
        accredited_on=None,
    )

    response = client.post(url, loaded | {"rank": "Major General"})

    assert response.status_code == 302, errors(response)
    attache.refresh_from_db()
    assert attache.rank == "Major General"


def test_a_user_s_groups_changed_meanwhile_are_named(world: World) -> None:
    from django.contrib.auth.models import Group

    target = UserFactory(username="target")
    url = change_url("accounts.user", target)
    client = signed_in(world.admin)
    loaded = form_data(client.get(url))
    target.groups.add(Group.objects.create(name="Analysts"))

    refused = client.post(url, loaded | {"clearance": "30"})

    assert "Someone else changed this user after you opened it: Groups (now “Analysts”)" in errors(refused)
    target.refresh_from_db()
    assert target.clearance != 30


def test_a_user_signing_in_meanwhile_does_not_block_a_change(world: World) -> None:
    """`last_login` is read-only in the admin: a sign-in is neither overwritten by an open
    form nor a reason to refuse it."""
    target = UserFactory(username="target")
    url = change_url("accounts.user", target)
    client = signed_in(world.admin)
    loaded = form_data(client.get(url))
    signed_in(target)  # force_login updates last_login

    response = client.post(url, loaded | {"first_name": "Tess"})

    assert response.status_code == 302, errors(response)
    target.refresh_from_db()
    assert target.first_name == "Tess" and target.last_login is not None


def test_an_area_weight_changed_meanwhile_is_named(world: World) -> None:
    weight_set = _weight_set(world)
    demining = CooperationArea.objects.get(code="demining")
    url = change_url("cooperation.weightset", weight_set)
    client = signed_in(world.admin)
    loaded = form_data(client.get(url))
    weight_sets.weight_set_update(
        actor=world.admin, weight_set=weight_set, data={}, area_weights={demining: Decimal("2")}
    )

    refused = client.post(url, loaded | {"description": "mine"})

    assert "Weight of area “Demining” (now “2.000”)" in errors(refused)
    weight_set.refresh_from_db()
    assert weight_set.description == ""
    assert weight_set.area_weights.get(area=demining).weight == Decimal("2.000")


def test_a_draft_activated_meanwhile_refuses_the_weights_its_form_still_shows(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """Activation freezes the weights: the stale form's weights would otherwise be dropped
    without a word (a frozen set's form has no weight fields)."""
    weight_set = _weight_set(world)
    url = change_url("cooperation.weightset", weight_set)
    client = signed_in(world.admin)
    loaded = form_data(client.get(url))
    with django_capture_on_commit_callbacks(execute=True):
        weight_sets.weight_set_activate(actor=world.admin, weight_set=weight_set)
    weight_set.refresh_from_db()
    assert weight_set.status == WeightSetStatus.ACTIVE

    refused = client.post(url, loaded | {"protocol_weight": "2.000", "description": "x"})

    assert "Status (now “Active”)" in errors(refused)
    weight_set.refresh_from_db()
    assert (weight_set.description, weight_set.protocol_weight) == ("", Decimal("1.000"))


# Every admin that changes records is guarded -----------------------------------------------

THIRD_PARTY_ADMINS = {
    # Other libraries' admins, left as they ship: schedules, devices, lockouts and the
    # history viewer are not the project's records (see docs/decisions.md).
    "auth.group",
    "django_celery_beat.periodictask",
    "django_celery_beat.clockedschedule",
    "django_celery_beat.crontabschedule",
    "django_celery_beat.solarschedule",
    "django_celery_beat.intervalschedule",
    "otp_totp.totpdevice",
    "axes.accessattempt",
    "axes.accesslog",
    "axes.accessfailurelog",
    "pghistory.middlewareevents",
}


def _registry() -> list[tuple[str, Any]]:
    return [(model._meta.label_lower, model_admin) for model, model_admin in admin.site._registry.items()]


def _checks_the_version(model_admin: Any) -> bool:
    fields = {field.name for field in model_admin.model._meta.concrete_fields}
    return "version" in fields and "expected_version" in model_admin.form.base_fields


def test_every_admin_that_changes_records_refuses_lost_updates(world: World) -> None:
    request = RequestFactory().get("/admin/")
    request.user = world.admin
    unguarded, doubly_guarded = [], []
    for label, model_admin in _registry():
        if label in THIRD_PARTY_ADMINS or not model_admin.has_change_permission(request):
            continue
        guards = [isinstance(model_admin, LostUpdateGuard), _checks_the_version(model_admin)]
        if not any(guards):
            unguarded.append(label)
        if all(guards):
            doubly_guarded.append(label)
        assert not model_admin.list_editable, f"{label}: list_editable saves without a change form"
    assert unguarded == [], "add LostUpdateGuard (attache/lost_update_admin.py) to these admins"
    assert doubly_guarded == []
    # The exemptions are real registrations (a stale entry would hide nothing, but mislead).
    assert {label for label, _ in _registry()} >= THIRD_PARTY_ADMINS
    guarded = {label for label, model_admin in _registry() if isinstance(model_admin, LostUpdateGuard)}
    assert guarded == {
        "cooperation.post",
        "cooperation.attache",
        "cooperation.relationship",
        "cooperation.cooperationarea",
        "cooperation.desk",
        "cooperation.weightset",
        "accounts.user",
    }


def test_relationship_notes_from_a_stale_form_keep_the_newer_notes(world: World) -> None:
    """The example of the audit: two admins edit a relationship's notes one after the other."""
    url = change_url("cooperation.relationship", world.rel_a)
    first, second = signed_in(world.admin), signed_in(world.admin)
    first_form, second_form = form_data(first.get(url)), form_data(second.get(url))
    first.post(url, first_form | {"notes": "First admin's notes"})
    response = second.post(url, second_form | {"notes": "Second admin's notes"})
    assert "Notes (now “First admin's notes”)" in errors(response)
    assert Relationship.objects.get(pk=world.rel_a.pk).notes == "First admin's notes"


@pytest.mark.django_db(transaction=True)
def test_a_save_arriving_while_another_is_in_flight_waits_for_it_then_is_refused(
    migrated_data: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both forms pass the check if the second reads before the first commits — unless the
    save locks the row first: the second then waits, sees the first's change and saves nothing."""
    from cooperation.admin import PostAdmin

    admin_user = UserFactory(username="root", role="admin", is_staff=True, is_superuser=True)
    post = PostFactory(name="US Embassy Kyiv", sending_country="US", host_country="UA", city="Kyiv")
    url = change_url("cooperation.post", post)
    first, second = signed_in(admin_user), signed_in(admin_user)
    first_form, second_form = form_data(first.get(url)), form_data(second.get(url))
    saved, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}
    log_change = PostAdmin.log_change

    def paused_log_change(self: Any, request: Any, obj: Any, message: Any) -> Any:
        entry = log_change(self, request, obj, message)
        saved.set()  # saved, not yet committed
        release.wait(10)
        return entry

    monkeypatch.setattr(PostAdmin, "log_change", paused_log_change)

    def post_form(name: str, client: Client, data: dict[str, Any]) -> None:
        try:
            results[name] = client.post(url, data)
        except BaseException as error:
            results[name] = error
        finally:
            saved.set()
            connection.close()

    one = threading.Thread(target=post_form, args=("first", first, first_form | {"city": "Kiev"}))
    one.start()
    assert saved.wait(10)
    two = threading.Thread(target=post_form, args=("second", second, second_form | {"name": "US Embassy in Kyiv"}))
    two.start()
    two.join(1.0)
    assert two.is_alive(), "the second save should wait for the first to commit"
    release.set()
    one.join(10)
    two.join(10)
    assert results["first"].status_code == 302, results
    assert "Someone else changed this post after you opened it: City (now “Kiev”)" in errors(results["second"])
    post.refresh_from_db()
    assert (post.name, post.city) == ("US Embassy Kyiv", "Kiev")
    assert LogEntry.objects.filter(object_id=str(post.pk)).count() == 1
