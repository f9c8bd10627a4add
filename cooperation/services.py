"""Every write to the domain goes through these functions.

Views, serializers, forms, admin actions, importers, commands and tasks call them,
so permission checks, validation, versioning and audit context cannot be skipped.
Each is keyword-only, atomic, and validates with `full_clean()` before saving; the
database constraints stay as the last line of defence.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django_countries import countries

from cooperation import intensity
from cooperation.audit import audit_context as _audit
from cooperation.audit import event_model
from cooperation.choices import (
    AccreditationKind,
    AccreditationStatus,
    ActivityLevel,
    ActivityStatus,
    Classification,
)
from cooperation.models import (
    ACTIVITY_DESCRIPTION_FIELDS,
    Accreditation,
    Activity,
    Attache,
    CooperationArea,
    Desk,
    Post,
    Relationship,
)
from cooperation.models.visibility import visible_snapshots
from cooperation.permissions import can_write_relationship

if TYPE_CHECKING:
    from accounts.models import User


# Errors ------------------------------------------------------------------------


class IllegalTransition(ValidationError):
    """A lifecycle step that the record's current state does not allow."""


class StaleVersion(Exception):
    """The record changed since the caller read it; nothing was written.

    `changes` maps each field changed since `expected_version` to (then, now).
    """

    def __init__(self, *, instance: Any, expected_version: int, changes: dict[str, tuple[Any, Any]]):
        self.instance = instance
        self.expected_version = expected_version
        self.current_version = instance.version
        self.changes = changes
        fields = ", ".join(sorted(changes)) or "no tracked field"
        super().__init__(
            f"{instance._meta.verbose_name.capitalize()} {instance.pk} was changed by someone else "
            f"(version {expected_version} → {instance.version}; changed: {fields}). "
            "Nothing was saved: reload it and apply your edit again."
        )


class DuplicateSubmission(Exception):
    """A one-time key already created a record, from other values than these; nothing was written.

    `instance` is the record the key created (visible to the caller, who created it);
    `fields` names the values that differ from the ones it was created with.
    """

    def __init__(self, *, instance: Any, fields: list[str]):
        self.instance = instance
        self.fields = fields
        super().__init__(
            f"This form already created {instance._meta.verbose_name} {instance.pk}, from other values "
            f"(differing: {', '.join(fields)}). Nothing was saved."
        )


# Shared helpers ------------------------------------------------------------------


def _require_write(actor: User | None, *, relationship: Relationship, releasability: int) -> None:
    """Desk officers write within their desks and clearance; admins everywhere.

    `actor=None` is the system itself (management commands, tasks).
    """
    if actor is None:
        return
    if not can_write_relationship(actor, relationship.pk):
        raise PermissionDenied(f"You may not record anything for {relationship.label}.")
    if releasability > actor.effective_clearance:
        raise PermissionDenied(
            f"You may not record a {Classification(releasability).label.lower()} record above your clearance."
        )


def _now() -> datetime.datetime:
    return timezone.now()


def _snapshot_changes(instance: Any, *, since_version: int, actor: User | None) -> dict[str, tuple[Any, Any]]:
    """Fields that differ between the history snapshot at `since_version` and now.

    The caller names the version; one the actor could not see (taken while the record was
    above their clearance or on another desk) shows no changes: its values stay hidden.
    """
    events = event_model(type(instance))
    snapshots = visible_snapshots(instance, actor) if actor is not None else None
    if snapshots is None:
        snapshots = events.objects.filter(pgh_obj_id=instance.pk)
    then = snapshots.filter(version=since_version).order_by("-pgh_id").first()
    if then is None:
        return {}
    ignored = {"version", "updated_at", "updated_by"}
    snapshot_fields = {field.attname for field in events._meta.concrete_fields}
    changes = {}
    for field in instance._meta.concrete_fields:
        if field.name in ignored or field.primary_key or field.attname not in snapshot_fields:
            continue
        old, new = getattr(then, field.attname), getattr(instance, field.attname)
        if old != new:
            changes[field.name] = (old, new)
    return changes


def _lock(model: Any, pk: int) -> Any:
    return model.objects.select_for_update().get(pk=pk)


def _lock_channel(activity: Activity) -> None:
    """Read the activity's accreditation again, locked until the transaction ends, before
    the channel rule is checked (`Activity.clean`).

    `accreditation_update` locks the accreditation before it counts the activities below
    its new releasability, so the two checks cannot pass side by side: a write that links
    an activity waits for a raise in flight and then sees the raised level; a raise waits
    for the link and then counts it. (FOR NO KEY UPDATE: inserting other activities
    through the same accreditation is not held up by it.)
    """
    if activity.accreditation_id is not None:
        locked = Accreditation.objects.select_for_update(no_key=True).filter(pk=activity.accreditation_id).first()
        if locked is not None:
            activity.accreditation = locked


def _check_version(instance: Any, expected_version: int | None, *, actor: User | None) -> None:
    if expected_version is not None and instance.version != expected_version:
        raise StaleVersion(
            instance=instance,
            expected_version=expected_version,
            changes=_snapshot_changes(instance, since_version=expected_version, actor=actor),
        )


Created = TypeVar("Created", bound=models.Model)


def _create_once(
    model: type[Created],
    *,
    actor: User | None,
    key: uuid.UUID | None,
    submitted: Mapping[str, Any],
    visible: Callable[[], Any],
    create: Callable[[], Created],
) -> Created:
    """`create()`, unless `key` already created a `model` row for `actor`.

    A form carries a one-time key from the moment it is rendered (an API client may send
    one as Idempotency-Key), and the row it creates keeps it under a unique constraint on
    (created_by, key). A second submission with the key — a double click, a retry after a
    slow answer, on any worker — gets the first one's row instead of a second row: if the
    first is still in flight, its insert holds this one at the unique index until it
    commits, and the row is then found. Values that differ from those the row was
    created with raise `DuplicateSubmission` (an edited resubmission is not silently
    dropped). The key is per user: another user's key is just a fresh key here, and a
    row the actor can no longer see is refused, not shown.
    """
    if key is None:
        return create()
    if actor is None:
        raise ValueError("A one-time key belongs to a user: system writes cannot take one.")
    existing = model._default_manager.filter(created_by=actor, idempotency_key=key).first()
    if existing is None:
        try:
            with transaction.atomic():
                return create()
        except (IntegrityError, ValidationError):
            # The same key's first submission committed meanwhile (its row now fails a
            # uniqueness check, or held our insert until it committed): that is a replay.
            existing = model._default_manager.filter(created_by=actor, idempotency_key=key).first()
            if existing is None:
                raise
    if not visible().filter(pk=existing.pk).exists():
        raise PermissionDenied(
            "This form was already used, for a record you may no longer see. Nothing was saved: open a new form."
        )
    differing = _differs_from_creation(existing, submitted)
    if differing:
        raise DuplicateSubmission(instance=existing, fields=differing)
    return existing


def _differs_from_creation(instance: models.Model, submitted: Mapping[str, Any]) -> list[str]:
    """Names in `submitted` whose value is not the one `instance` was created with.

    The creation's history snapshot, not the row: the record may have been edited since,
    and a replay of the original submission is still the same submission.
    """
    meta = instance._meta
    created = (
        event_model(type(instance))
        .objects.filter(pgh_obj_id=instance.pk, pgh_label="insert")
        .order_by("pgh_id")
        .first()
    )
    source = created if created is not None else instance
    differing = []
    for name, value in submitted.items():
        field = meta.get_field(name)
        assert isinstance(field, models.Field)
        then = getattr(source, field.attname)
        now = value.pk if isinstance(value, models.Model) else value
        if field.get_prep_value(then) != field.get_prep_value(now):
            differing.append(name)
    return differing


# Relationships ---------------------------------------------------------------


def _country_code(value: Any, field: str) -> str:
    code = countries.alpha2(str(value).strip()) if value else ""
    if not code:
        raise ValidationError({field: f"{value!r} is not an ISO 3166 country code."})
    return code


@transaction.atomic
def relationship_get_or_create(*, country_a: str, country_b: str) -> Relationship:
    """The relationship between two states, created on first use; the order does not matter."""
    first, second = sorted((_country_code(country_a, "country_a"), _country_code(country_b, "country_b")))
    if first == second:
        raise ValidationError("A relationship needs two different states.")
    existing = Relationship.objects.filter(state_a=first, state_b=second).first()
    if existing is not None:
        return existing
    relationship = Relationship(state_a=first, state_b=second)
    relationship.full_clean()
    with _audit(None, "relationship.create"):
        relationship.save()
    return relationship


# Activities ------------------------------------------------------------------------

ACTIVITY_EDITABLE_FIELDS = ("relationship", "area", "accreditation", *ACTIVITY_DESCRIPTION_FIELDS, "external_ref")

# Fields whose change can move an activity's figures in the intensity rollups.
INTENSITY_FIELDS = (
    "relationship",
    "area",
    "level",
    "status",
    "start_date",
    "end_date",
    "participants",
    "releasability",
)


@transaction.atomic
def activity_create(
    *,
    actor: User | None,
    relationship: Relationship,
    area: CooperationArea,
    title: str,
    kind: str,
    start_date: datetime.date,
    level: str = ActivityLevel.WORKING,
    status: str = ActivityStatus.PLANNED,
    end_date: datetime.date | None = None,
    location: str = "",
    participants: int = 0,
    counterpart: str = "",
    description: str = "",
    outcome: str = "",
    releasability: int = Classification.INTERNAL,
    accreditation: Accreditation | None = None,
    external_ref: str | None = None,
    idempotency_key: uuid.UUID | None = None,
) -> Activity:
    """Record an activity. With `idempotency_key` (a form's one-time key, an API client's
    Idempotency-Key) at most one per actor and key: see `_create_once`."""
    values: dict[str, Any] = {
        "relationship": relationship,
        "area": area,
        "accreditation": accreditation,
        "title": title,
        "kind": kind,
        "level": level,
        "status": status,
        "start_date": start_date,
        "end_date": end_date,
        "location": location,
        "participants": participants,
        "counterpart": counterpart,
        "description": description,
        "outcome": outcome,
        "releasability": releasability,
        "external_ref": external_ref or None,
    }

    def create() -> Activity:
        _require_write(actor, relationship=relationship, releasability=releasability)
        now = _now()
        activity = Activity(
            **values,
            idempotency_key=idempotency_key,
            created_at=now,
            updated_at=now,
            created_by=actor,
            updated_by=actor,
        )
        _lock_channel(activity)
        activity.full_clean()
        with _audit(actor, "activity.create"):
            activity.save()
        intensity.schedule_refresh([intensity.activity_key(activity)])
        return activity

    return _create_once(
        Activity,
        actor=actor,
        key=idempotency_key,
        submitted=values,
        visible=lambda: Activity.objects.visible_to(actor, include_deleted=True),
        create=create,
    )


def _locked_activity(actor: User | None, activity: Activity) -> Activity:
    queryset = Activity.objects.select_for_update()
    if actor is not None:
        queryset = queryset.visible_to(actor, include_deleted=True)
    try:
        return queryset.get(pk=activity.pk)
    except Activity.DoesNotExist:
        raise PermissionDenied("You may not change this activity.") from None


@transaction.atomic
def activity_update(
    *,
    actor: User | None,
    activity: Activity,
    data: Mapping[str, Any],
    expected_version: int | None,
) -> Activity:
    """Apply `data` (a partial update) if nobody changed the activity since `expected_version`.

    `expected_version=None` skips the check (system writes only: imports by natural key
    take the lock instead).
    """
    unknown = set(data) - set(ACTIVITY_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    current = _locked_activity(actor, activity)
    _check_version(current, expected_version, actor=actor)
    if current.is_deleted:
        raise ValidationError("This activity is deleted; restore it before editing.")
    _require_write(actor, relationship=current.relationship, releasability=current.releasability)
    before = {name: getattr(current, name) for name in data}
    old_key = intensity.activity_key(current)
    for name, value in data.items():
        setattr(current, name, value)
    if all(getattr(current, name) == before[name] for name in data):
        return current
    if "relationship" in data or "releasability" in data:
        _require_write(actor, relationship=current.relationship, releasability=current.releasability)
    if "accreditation" in data or "releasability" in data:
        _lock_channel(current)
    current.full_clean()
    current.version += 1
    current.updated_at = _now()
    current.updated_by = actor
    with _audit(actor, "activity.update"):
        current.save()
    if any(getattr(current, name) != before[name] for name in INTENSITY_FIELDS if name in data):
        intensity.schedule_refresh([old_key, intensity.activity_key(current)])
    return current


@transaction.atomic
def activity_soft_delete(*, actor: User | None, activity: Activity, expected_version: int | None) -> Activity:
    current = _locked_activity(actor, activity)
    _check_version(current, expected_version, actor=actor)
    _require_write(actor, relationship=current.relationship, releasability=current.releasability)
    if current.is_deleted:
        return current
    current.deleted_at = _now()
    current.deleted_by = actor
    current.version += 1
    current.updated_at = current.deleted_at
    current.updated_by = actor
    with _audit(actor, "activity.delete"):
        current.save(update_fields=["deleted_at", "deleted_by", "version", "updated_at", "updated_by"])
    intensity.schedule_refresh([intensity.activity_key(current)])
    return current


@transaction.atomic
def activity_restore(*, actor: User | None, activity: Activity, expected_version: int | None = None) -> Activity:
    current = _locked_activity(actor, activity)
    _check_version(current, expected_version, actor=actor)
    _require_write(actor, relationship=current.relationship, releasability=current.releasability)
    if not current.is_deleted:
        return current
    current.deleted_at = None
    current.deleted_by = None
    current.version += 1
    current.updated_at = _now()
    current.updated_by = actor
    with _audit(actor, "activity.restore"):
        current.save(update_fields=["deleted_at", "deleted_by", "version", "updated_at", "updated_by"])
    intensity.schedule_refresh([intensity.activity_key(current)])
    return current


# Accreditations ----------------------------------------------------------------


@transaction.atomic
def accreditation_request(
    *,
    actor: User | None,
    attache: Attache,
    post: Post,
    host_country: str,
    requested_on: datetime.date,
    releasability: int = Classification.PUBLIC,
    notes: str = "",
    idempotency_key: uuid.UUID | None = None,
) -> Accreditation:
    """Ask a host country to accept `attache`, residing at `post`.

    The kind follows from the post: resident when the post is in the host country,
    concurrent otherwise. With `idempotency_key` (the request form's one-time key) at
    most one request per actor and key: see `_create_once`.
    """
    host = _country_code(host_country, "host_country")
    values: dict[str, Any] = {
        "attache": attache,
        "post": post,
        "host_country": host,
        "requested_on": requested_on,
        "releasability": releasability,
        "notes": notes,
    }

    def create() -> Accreditation:
        sending = str(attache.sending_country)
        if str(post.sending_country) != sending:
            raise ValidationError(
                {"post": f"{post} is not a post of {countries.name(sending)}, the attaché's country."}
            )
        if host == sending:
            raise ValidationError({"host_country": "An attaché cannot be accredited to their own country."})
        relationship = relationship_get_or_create(country_a=sending, country_b=host)
        _require_write(actor, relationship=relationship, releasability=releasability)
        now = _now()
        accreditation = Accreditation(
            **values,
            relationship=relationship,
            kind=AccreditationKind.RESIDENT if str(post.host_country) == host else AccreditationKind.CONCURRENT,
            status=AccreditationStatus.REQUESTED,
            idempotency_key=idempotency_key,
            created_at=now,
            updated_at=now,
            created_by=actor,
            updated_by=actor,
        )
        accreditation.full_clean()
        with _audit(actor, "accreditation.request"):
            accreditation.save()
        return accreditation

    return _create_once(
        Accreditation,
        actor=actor,
        key=idempotency_key,
        submitted=values,
        visible=lambda: Accreditation.objects.visible_to(actor),
        create=create,
    )


ACCREDITATION_EDITABLE_FIELDS = ("releasability", "notes")


@transaction.atomic
def accreditation_update(
    *,
    actor: User | None,
    accreditation: Accreditation,
    data: Mapping[str, Any],
    expected_version: int | None,
) -> Accreditation:
    """Change the free fields of an accreditation; its lifecycle moves only through the steps below."""
    unknown = set(data) - set(ACCREDITATION_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field changes only through a lifecycle step."))
    current = _locked_accreditation(actor, accreditation)
    _check_version(current, expected_version, actor=actor)
    _require_write(actor, relationship=current.relationship, releasability=current.releasability)
    before = {name: getattr(current, name) for name in data}
    for name, value in data.items():
        setattr(current, name, value)
    if all(getattr(current, name) == before[name] for name in data):
        return current
    _require_write(actor, relationship=current.relationship, releasability=current.releasability)
    current.full_clean()
    current.version += 1
    current.updated_at = _now()
    current.updated_by = actor
    with _audit(actor, "accreditation.update"):
        current.save()
    return current


def _locked_accreditation(actor: User | None, accreditation: Accreditation) -> Accreditation:
    queryset = Accreditation.objects.select_for_update()
    if actor is not None:
        queryset = queryset.visible_to(actor)
    try:
        return queryset.get(pk=accreditation.pk)
    except Accreditation.DoesNotExist:
        raise PermissionDenied("You may not change this accreditation.") from None


# action → (statuses it may start from, status it leads to, date field it sets, wording)
ACCREDITATION_STEPS: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "grant_agrement": (
        (AccreditationStatus.REQUESTED,),
        AccreditationStatus.AGREMENT_GRANTED,
        "agrement_on",
        "grant agrément to",
    ),
    "accredit": ((AccreditationStatus.AGREMENT_GRANTED,), AccreditationStatus.ACCREDITED, "accredited_on", "accredit"),
    "end": ((AccreditationStatus.ACCREDITED,), AccreditationStatus.ENDED, "ended_on", "end"),
    "refuse": ((AccreditationStatus.REQUESTED,), AccreditationStatus.REFUSED, "refused_on", "refuse"),
    "withdraw": (
        (AccreditationStatus.REQUESTED, AccreditationStatus.AGREMENT_GRANTED),
        AccreditationStatus.WITHDRAWN,
        "withdrawn_on",
        "withdraw",
    ),
}


def _labels(statuses: Iterable[str]) -> str:
    return " or ".join(f"'{AccreditationStatus(status).label.lower()}'" for status in statuses)


def _accreditation_step(
    *,
    actor: User | None,
    accreditation: Accreditation,
    action: str,
    on: datetime.date,
    expected_version: int | None,
) -> Accreditation:
    allowed_from, target, date_field, wording = ACCREDITATION_STEPS[action]
    current = _locked_accreditation(actor, accreditation)
    _check_version(current, expected_version, actor=actor)
    _require_write(actor, relationship=current.relationship, releasability=current.releasability)
    if current.status not in allowed_from:
        raise IllegalTransition(
            f"Cannot {wording} this accreditation: it is "
            f"'{AccreditationStatus(current.status).label.lower()}', and only an accreditation that is "
            f"{_labels(allowed_from)} can be."
        )
    if action == "accredit" and current.kind == AccreditationKind.CONCURRENT:
        resident = Accreditation.objects.active().filter(
            attache_id=current.attache_id, kind=AccreditationKind.RESIDENT, accredited_on__lte=on
        )
        if not resident.exists():
            raise ValidationError(
                "A concurrent accreditation needs an active resident accreditation of the same attaché."
            )
    current.status = target
    setattr(current, date_field, on)
    current.full_clean()
    current.version += 1
    current.updated_at = _now()
    current.updated_by = actor
    with _audit(actor, f"accreditation.{action}"):
        current.save()
    if action == "end" and current.kind == AccreditationKind.RESIDENT:
        # Concurrent accreditations ride on the resident one: they end with it, as a
        # system step (the actor may not see them) recorded under the actor's name.
        with _audit(actor, "accreditation.end"):
            for concurrent in Accreditation.objects.active().filter(
                attache_id=current.attache_id, kind=AccreditationKind.CONCURRENT
            ):
                _accreditation_step(
                    actor=None,
                    accreditation=concurrent,
                    action="end",
                    on=max(on, concurrent.accredited_on),
                    expected_version=None,
                )
    return current


@transaction.atomic
def accreditation_grant_agrement(
    *, actor: User | None, accreditation: Accreditation, on: datetime.date, expected_version: int | None = None
) -> Accreditation:
    return _accreditation_step(
        actor=actor, accreditation=accreditation, action="grant_agrement", on=on, expected_version=expected_version
    )


@transaction.atomic
def accreditation_accredit(
    *, actor: User | None, accreditation: Accreditation, on: datetime.date, expected_version: int | None = None
) -> Accreditation:
    """Credentials presented: the accreditation becomes active."""
    return _accreditation_step(
        actor=actor, accreditation=accreditation, action="accredit", on=on, expected_version=expected_version
    )


@transaction.atomic
def accreditation_end(
    *, actor: User | None, accreditation: Accreditation, on: datetime.date, expected_version: int | None = None
) -> Accreditation:
    """End an active accreditation; ending a resident one also ends its concurrent ones."""
    return _accreditation_step(
        actor=actor, accreditation=accreditation, action="end", on=on, expected_version=expected_version
    )


@transaction.atomic
def accreditation_refuse(
    *, actor: User | None, accreditation: Accreditation, on: datetime.date, expected_version: int | None = None
) -> Accreditation:
    return _accreditation_step(
        actor=actor, accreditation=accreditation, action="refuse", on=on, expected_version=expected_version
    )


@transaction.atomic
def accreditation_withdraw(
    *, actor: User | None, accreditation: Accreditation, on: datetime.date, expected_version: int | None = None
) -> Accreditation:
    return _accreditation_step(
        actor=actor, accreditation=accreditation, action="withdraw", on=on, expected_version=expected_version
    )


# Reference data ------------------------------------------------------------------


@transaction.atomic
def post_get_or_create(*, name: str, sending_country: str, host_country: str, city: str) -> Post:
    post = Post.objects.filter(name=name).first()
    if post is not None:
        return post
    post = Post(
        name=name,
        sending_country=_country_code(sending_country, "sending_country"),
        host_country=_country_code(host_country, "host_country"),
        city=city,
    )
    post.full_clean()
    with _audit(None, "post.create"):
        post.save()
    return post


@transaction.atomic
def attache_get_or_create(*, name: str, sending_country: str, rank: str = "", service: str = "joint") -> Attache:
    code = _country_code(sending_country, "sending_country")
    attache = Attache.objects.filter(name=name, sending_country=code).first()
    if attache is not None:
        return attache
    attache = Attache(name=name, sending_country=code, rank=rank, service=service)
    attache.full_clean()
    with _audit(None, "attache.create"):
        attache.save()
    return attache


@transaction.atomic
def desk_get_or_create(*, name: str, relationships: Iterable[Relationship] = ()) -> Desk:
    desk = Desk.objects.filter(name=name).first()
    with _audit(None, "desk.update"):
        if desk is None:
            desk = Desk(name=name)
            desk.full_clean()
            desk.save()
        desk.relationships.add(*relationships)
    return desk
