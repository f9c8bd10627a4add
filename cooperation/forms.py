"""Forms of the HTML workspace. They validate what people type and hand it to the
services; they never save a model themselves."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django_countries import countries

from cooperation import services
from cooperation.choices import ActivityStatus, Classification
from cooperation.models import Accreditation, Activity, Attache, CooperationArea, Post
from cooperation.permissions import writable_relationships
from cooperation.validators import validate_calendar_date


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def clearance_choices(user: Any, current: int | None = None) -> list[tuple[int, str]]:
    """Releasabilities a user may give a record: up to their clearance (and the current value)."""
    return [
        (member.value, member.label)
        for member in Classification
        if member.value <= user.effective_clearance or member.value == current
    ]


def add_service_error(form: forms.BaseForm, error: ValidationError | PermissionDenied) -> None:
    """Put a service's refusal beside the field it names, or above the form."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for name, messages in error.error_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    elif isinstance(error, ValidationError):
        form.add_error(None, error.messages)
    else:
        form.add_error(None, str(error) or "You may not do this.")


def once_key_field() -> forms.UUIDField:
    """The hidden one-time key of a create form (see `services._create_once`)."""
    return forms.UUIDField(widget=forms.HiddenInput, required=False)


def give_once_key(form: forms.BaseForm) -> None:
    """A fresh key when the form is rendered empty; a bound form (re-rendered with errors)
    keeps the key it was submitted with, so fixing the errors still creates only once."""
    if not form.is_bound:
        form.initial["idempotency_key"] = uuid.uuid4()


class VersionForm(forms.Form):
    """The version the user saw, for actions (cancel, delete, restore) on one record."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class ActivityForm(forms.ModelForm):
    """Create or edit an activity; `save()` calls `activity_create` / `activity_update`."""

    participants = forms.IntegerField(min_value=0, initial=0)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    idempotency_key = once_key_field()

    class Meta:
        model = Activity
        fields = services.ACTIVITY_EDITABLE_FIELDS
        widgets = {
            "start_date": DateInput(),
            "end_date": DateInput(),
            "description": forms.Textarea(attrs={"rows": 3}),
            "outcome": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        editing = self.instance.pk is not None
        fields = self.fields
        relationships = writable_relationships(user)
        fields["relationship"].queryset = relationships  # type: ignore[attr-defined]
        area_q = Q(is_active=True)
        if editing:
            area_q |= Q(pk=self.instance.area_id)
        fields["area"].queryset = CooperationArea.objects.filter(area_q)  # type: ignore[attr-defined]
        fields["area"].empty_label = None  # type: ignore[attr-defined]
        fields["accreditation"].queryset = (  # type: ignore[attr-defined]
            Accreditation.objects.visible_to(user)
            .filter(relationship__in=relationships)
            .select_related("attache")
            .order_by("attache__name", "host_country")
        )
        fields["accreditation"].label_from_instance = _accreditation_label  # type: ignore[attr-defined]
        fields["releasability"].choices = clearance_choices(  # type: ignore[attr-defined]
            user, self.instance.releasability if editing else None
        )
        fields["external_ref"].help_text = "Optional: the identifier of this activity in another system."
        if editing:
            fields["version"].required = True
            fields["version"].initial = self.instance.version
            del fields["idempotency_key"]
        else:
            give_once_key(self)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "The end date cannot be before the start date.")
        if not cleaned.get("external_ref"):
            cleaned["external_ref"] = None
        return cleaned

    def service_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in services.ACTIVITY_EDITABLE_FIELDS}

    def save(self, commit: bool = True) -> Activity:
        """Create or update through the services. `StaleVersion` and `DuplicateSubmission`
        propagate to the view; a refusal (validation or permission) becomes a form error
        and returns the unsaved instance — check `form.errors` after calling."""
        try:
            if self.instance.pk is None:
                return services.activity_create(
                    actor=self.user, idempotency_key=self.cleaned_data["idempotency_key"], **self.service_data()
                )
            return services.activity_update(
                actor=self.user,
                activity=self.instance,
                data=self.service_data(),
                expected_version=self.cleaned_data["version"],
            )
        except (ValidationError, PermissionDenied) as error:
            add_service_error(self, error)
            return self.instance


def _accreditation_label(accreditation: Accreditation) -> str:
    return (
        f"{accreditation.attache} → {countries.name(accreditation.host_country)} "
        f"({accreditation.get_kind_display().lower()}, {accreditation.get_status_display().lower()})"
    )


def duplicate_initial(activity: Activity) -> dict[str, Any]:
    """The values a duplicate starts from: the same activity, planned, without its reference."""
    initial = {name: getattr(activity, name) for name in services.ACTIVITY_EDITABLE_FIELDS}
    initial.update(
        relationship=activity.relationship_id,
        area=activity.area_id,
        accreditation=activity.accreditation_id,
        status=ActivityStatus.PLANNED,
        external_ref=None,
    )
    return initial


class AccreditationRequestForm(forms.Form):
    """Ask a host country to accept an attaché; `accreditation_request` decides the kind."""

    attache = forms.ModelChoiceField(queryset=Attache.objects.all(), label="Attaché")
    post = forms.ModelChoiceField(queryset=Post.objects.all(), help_text="Where the attaché resides.")
    host_country = forms.ChoiceField(choices=[("", "—"), *list(countries)], label="Host country")
    requested_on = forms.DateField(widget=DateInput(), label="Requested on", validators=[validate_calendar_date])
    releasability = forms.TypedChoiceField(coerce=int)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    idempotency_key = once_key_field()

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["releasability"].choices = clearance_choices(user)  # type: ignore[attr-defined]
        self.fields["releasability"].initial = Classification.PUBLIC
        give_once_key(self)

    def save(self) -> Accreditation | None:
        """`DuplicateSubmission` propagates to the view; a refusal becomes a form error."""
        try:
            return services.accreditation_request(actor=self.user, **self.cleaned_data)
        except (ValidationError, PermissionDenied) as error:
            add_service_error(self, error)
            return None


class AccreditationEditForm(forms.Form):
    releasability = forms.TypedChoiceField(coerce=int)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, user: Any, accreditation: Accreditation, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "releasability": accreditation.releasability,
                "notes": accreditation.notes,
                "version": accreditation.version,
            },
        )
        super().__init__(*args, **kwargs)
        self.user = user
        self.accreditation = accreditation
        self.fields["releasability"].choices = clearance_choices(  # type: ignore[attr-defined]
            user, accreditation.releasability
        )

    def save(self) -> Accreditation | None:
        data = {"releasability": self.cleaned_data["releasability"], "notes": self.cleaned_data["notes"]}
        try:
            return services.accreditation_update(
                actor=self.user,
                accreditation=self.accreditation,
                data=data,
                expected_version=self.cleaned_data["version"],
            )
        except (ValidationError, PermissionDenied) as error:
            add_service_error(self, error)
            return None


ACCREDITATION_STEP_SERVICES = {
    "grant_agrement": services.accreditation_grant_agrement,
    "accredit": services.accreditation_accredit,
    "end": services.accreditation_end,
    "refuse": services.accreditation_refuse,
    "withdraw": services.accreditation_withdraw,
}
ACCREDITATION_STEP_LABELS = {
    "grant_agrement": "Agrément granted",
    "accredit": "Accredited (credentials presented)",
    "end": "Ended",
    "refuse": "Refused",
    "withdraw": "Withdrawn",
}


class AccreditationStepForm(forms.Form):
    """One lifecycle step with its date; `IllegalTransition` and the like become form errors."""

    on = forms.DateField(widget=DateInput(), label="On", validators=[validate_calendar_date])
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, user: Any, accreditation: Accreditation, action: str, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"on": timezone.localdate(), "version": accreditation.version})
        super().__init__(*args, **kwargs)
        self.user = user
        self.accreditation = accreditation
        self.action = action
        self.fields["on"].label = f"{ACCREDITATION_STEP_LABELS[action]} on"

    def save(self) -> Accreditation | None:
        step = ACCREDITATION_STEP_SERVICES[self.action]
        try:
            return step(
                actor=self.user,
                accreditation=self.accreditation,
                on=self.cleaned_data["on"],
                expected_version=self.cleaned_data["version"],
            )
        except (ValidationError, PermissionDenied) as error:
            add_service_error(self, error)
            return None


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV or XLSX file",
        help_text="Columns as in the template; the first row holds the column names.",
    )

    @classmethod
    def refusing(cls, message: str) -> ImportUploadForm:
        """The form after an upload refused unread (its body over the size limit): no file,
        and why, in place of "This field is required"."""
        form = cls(data={}, files=MultiValueDict())
        form.full_clean()
        del form.errors["file"]
        form.add_error("file", message)
        return form
