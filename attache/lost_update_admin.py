"""Admin change forms that refuse a save when the record changed after the form was loaded.

Most admin models have no `version` column (activities and accreditations do, and their
forms check it). Instead the change form carries a signed token: one digest per thing
the form edits — each model field on it, the rows of each inline that edits related
rows, and whatever an admin adds through `lost_update_extra_state`. On save the row is
locked and the digests are computed again; if any differs, the form is shown again with
the user's entries and an error naming what changed, and nothing is saved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.admin.utils import flatten_fieldsets
from django.core import signing
from django.core.exceptions import FieldDoesNotExist
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.text import capfirst

LOADED_STATE_FIELD = "loaded_state"
_SHOWN_LENGTH = 80


@dataclass(frozen=True)
class StatePart:
    """One thing a change form edits, as stored now: its label, a digest and a short
    text of its current value for the error message."""

    label: str
    digest: str
    shown: str


def _digest(value: Any) -> str:
    encoded = json.dumps(value, default=str, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:24]


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_LENGTH else f"{text[: _SHOWN_LENGTH - 1]}…"


def _model_field(model: type[models.Model], name: str) -> Any:
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _field_part(obj: models.Model, field: Any, label: str) -> StatePart:
    if field.many_to_many:
        related = sorted(getattr(obj, field.name).all(), key=lambda row: row.pk)
        return StatePart(label, _digest([row.pk for row in related]), ", ".join(map(str, related)) or "none")
    value = field.value_from_object(obj)
    if value is None or value == "":
        shown = "empty"
    elif field.is_relation:
        shown = str(getattr(obj, field.name))
    elif field.flatchoices:
        shown = str(dict(field.flatchoices).get(value, value))
    elif isinstance(value, bool):
        shown = "yes" if value else "no"
    else:
        shown = str(value)
    return StatePart(label, _digest(value), shown)


class LostUpdateGuard:
    """Mixin for a `ModelAdmin` whose change form must not overwrite a change saved
    after it was loaded. Adding records is unaffected.

    Put it first among the bases. Admins whose form already checks the record's
    `version` (activities, accreditations) do not use it.
    """

    def lost_update_extra_state(self, request: HttpRequest, obj: Any) -> dict[str, tuple[str, Any]]:
        """What the form edits beyond its model fields and inlines: key → (label, value)."""
        return {}

    # The state ------------------------------------------------------------------------

    def lost_update_state(self, request: HttpRequest, obj: Any, form_class: Any) -> dict[str, StatePart]:
        parts: dict[str, StatePart] = {}
        for name, form_field in form_class.base_fields.items():
            if name == LOADED_STATE_FIELD or form_field.disabled:
                continue
            model_field = _model_field(type(obj), name)
            if model_field is None:
                continue  # not stored on the record: `lost_update_extra_state` covers it
            parts[name] = _field_part(obj, model_field, str(form_field.label or capfirst(model_field.verbose_name)))
        for formset_class, inline in self.get_formsets_with_inlines(request, obj):  # type: ignore[attr-defined]
            fk_name = formset_class.fk.name
            editable = [
                name
                for name, form_field in formset_class.form.base_fields.items()
                if name != fk_name and not form_field.disabled
            ]
            if not (editable or formset_class.can_delete or inline.has_add_permission(request, obj)):
                continue  # a read-only inline: its rows are not the form's to change
            rows = sorted(inline.get_queryset(request).filter(**{fk_name: obj}), key=lambda row: row.pk)
            fields = [field for name in editable if (field := _model_field(inline.model, name)) is not None]
            value = [[row.pk, *(field.value_from_object(row) for field in fields)] for row in rows]
            label = str(capfirst(inline.verbose_name_plural))
            parts[f"inline:{formset_class.get_default_prefix()}"] = StatePart(
                label, _digest(value), "; ".join(map(str, rows)) or "none"
            )
        for key, (label, value) in self.lost_update_extra_state(request, obj).items():
            parts[f"extra:{key}"] = StatePart(label, _digest(value), str(value))
        return parts

    def _token_salt(self, obj: Any) -> str:
        return f"attache.admin.loaded-state.{obj._meta.label_lower}"

    def lost_update_token(self, obj: Any, state: dict[str, StatePart]) -> str:
        payload = {"pk": str(obj.pk), "state": {key: part.digest for key, part in state.items()}}
        return signing.Signer(salt=self._token_salt(obj)).sign_object(payload, compress=True)

    # The form ---------------------------------------------------------------------------

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None or obj.pk is None:
            return super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        if kwargs.get("fields"):
            kwargs["fields"] = [name for name in kwargs["fields"] if name != LOADED_STATE_FIELD]
        form_class = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        guard = self

        def clean(form: Any) -> Any:
            cleaned = form_class.clean(form)
            guard.check_loaded_state(request, form)
            return cleaned

        guarded = type(
            form_class.__name__,
            (form_class,),
            {
                "__module__": form_class.__module__,
                LOADED_STATE_FIELD: forms.CharField(widget=forms.HiddenInput, required=False),
                "clean": clean,
            },
        )
        return guarded

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        adminform = context["adminform"]
        form = adminform.form
        if change and obj is not None and LOADED_STATE_FIELD in form.fields:
            if LOADED_STATE_FIELD not in flatten_fieldsets(adminform.fieldsets):  # an admin's own fieldsets
                adminform.fieldsets = [
                    *adminform.fieldsets,
                    (None, {"fields": [LOADED_STATE_FIELD], "classes": ["hidden"]}),
                ]
            if not form.is_bound:
                form.initial[LOADED_STATE_FIELD] = self.lost_update_token(
                    obj, self.lost_update_state(request, obj, type(form))
                )
        return super().render_change_form(request, context, add, change, form_url, obj)  # type: ignore[misc]

    # The save ---------------------------------------------------------------------------

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """On a POST inside the admin's transaction, lock the row, then load it again:
        a save that waited for another one sees what that one committed."""
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        using = router.db_for_write(self.model)  # type: ignore[attr-defined]
        if obj is None or request.method != "POST" or not transaction.get_connection(using).in_atomic_block:
            return obj
        list(type(obj)._base_manager.using(using).select_for_update().filter(pk=obj.pk).values_list("pk"))
        return super().get_object(request, object_id, from_field)  # type: ignore[misc]

    def check_loaded_state(self, request: HttpRequest, form: Any) -> None:
        """Add a form error (so Django saves nothing, logs nothing and shows the form
        again) unless the record is as it was when the form was loaded."""
        obj = form.instance
        noun = obj._meta.verbose_name
        token = form.data.get(form.add_prefix(LOADED_STATE_FIELD))
        if not token:
            form.add_error(
                None,
                f"This form was sent without the state of the {noun} it was opened from, so it cannot tell "
                "whether someone else changed the record since. Nothing was saved: reload the page and make "
                "your change again.",
            )
            return
        try:
            loaded = signing.Signer(salt=self._token_salt(obj)).unsign_object(token)
        except signing.BadSignature:
            loaded = None
        if not isinstance(loaded, dict) or loaded.get("pk") != str(obj.pk) or not isinstance(loaded.get("state"), dict):
            form.add_error(
                None,
                f"The state of the {noun} this form was opened from could not be verified. Nothing was saved: "
                "reload the page and make your change again.",
            )
            return
        current = self.lost_update_state(request, obj, type(form))
        changed = [part for key, part in current.items() if loaded["state"].get(key) != part.digest]
        if not changed and set(loaded["state"]) <= set(current):
            return
        described = "; ".join(f"{part.label} (now “{_shorten(part.shown)}”)" for part in changed)
        form.add_error(
            None,
            f"Someone else changed this {noun} after you opened it: {described or 'its form'}. Nothing was "
            "saved. Your entries are kept below: check them against that change, then save again to apply them.",
        )
        # Saving again is then a deliberate overwrite by someone who has been told.
        form.data = form.data.copy()
        form.data[form.add_prefix(LOADED_STATE_FIELD)] = self.lost_update_token(obj, current)
