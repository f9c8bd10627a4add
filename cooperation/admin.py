"""Admin for every domain model. Writes to activities and accreditations go through
the services, so the admin obeys the same rules, versions and audit as the app."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from attache.lost_update_admin import LostUpdateGuard
from attache.read_only_admin import ReadOnlyAdmin
from cooperation import services
from cooperation.models import (
    Accreditation,
    Activity,
    Attache,
    CooperationArea,
    Desk,
    DeskOfficer,
    DeskRelationship,
    Post,
    Relationship,
    TaskFailure,
)
from cooperation.selectors import history_for
from cooperation.validators import validate_calendar_date

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class VisibleRecordsAdmin:
    """The admin lists what `visible_to` gives the signed-in user: everything for
    administrators; for any other staff member given view rights, only their records.
    `visible_to_options` go to `visible_to` (the activity admin includes deleted ones, as
    it restores them)."""

    visible_to_options: dict[str, Any] = {}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return queryset.visible_to(request.user, **self.visible_to_options)


class VisibleRelatedListFilter(admin.RelatedFieldListFilter):
    """A "By <related record>" filter offering only the related records `visible_to` the
    user: Django's lists every row of the related table, so a staff desk officer read the
    names of other desks' relationships in the sidebar."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        queryset = field.related_model._default_manager.visible_to(request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return [(str(record.pk), str(record)) for record in queryset]


class HistoryMixin:
    """A read-only "Change history" block on the change form: who, when, old → new.

    Only the versions the signed-in user could see (`history_for(viewer=…)`), as on the
    workspace pages: a staff member given view rights must not read what a record held
    while it was above their clearance or on another desk. Django calls the block with the
    record alone, so `get_object` leaves the viewer on the record it loads.
    """

    _history_viewer_attribute = "_attache_history_viewer"

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is not None:
            setattr(obj, self._history_viewer_attribute, request.user)
        return obj

    @admin.display(description="Change history")
    def change_history(self, obj: Any) -> SafeString | str:
        viewer = getattr(obj, self._history_viewer_attribute, None)
        if obj is None or obj.pk is None or viewer is None:
            return "—"
        entries = history_for(obj, limit=25, viewer=viewer)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry.when.strftime("%Y-%m-%d %H:%M:%S"),
                    entry.user or "system",
                    entry.action or entry.label,
                    "; ".join(f"{field}: {old!r} → {new!r}" for field, old, new in entry.changes) or "—",
                )
                for entry in entries
            ),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Changes</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )


class ServiceSaveMixin:
    """For admins whose `save_model` writes through services.

    A refusal (a rule, a permission, a stale version) undoes everything this save wrote
    — not only the service call that failed — and is the page's only message: Django's
    "was changed successfully", its log entry and the related saves are skipped, and
    the user is sent back to the form.
    """

    _refused_attribute = "_attache_service_refused"

    def save_through_services(self, request: HttpRequest, write: Callable[[], None]) -> None:
        try:
            with transaction.atomic():
                write()
        except (ValidationError, PermissionDenied, services.StaleVersion) as error:
            setattr(request, self._refused_attribute, True)
            messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))

    def refused(self, request: HttpRequest) -> bool:
        return bool(getattr(request, self._refused_attribute, False))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not self.refused(request):
            super().save_related(request, form, formsets, change)  # type: ignore[misc]

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.refused(request) else super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.refused(request) else super().log_change(request, obj, message)  # type: ignore[misc]

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> HttpResponse:
        if self.refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)  # type: ignore[misc]

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if self.refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)  # type: ignore[misc]


@admin.register(Post)
class PostAdmin(LostUpdateGuard, HistoryMixin, admin.ModelAdmin):
    list_display = ("name", "sending_country", "host_country", "city")
    list_filter = ("sending_country", "host_country")
    search_fields = ("name", "city")
    readonly_fields = ("change_history",)


class AccreditationInline(VisibleRecordsAdmin, admin.TabularInline):
    model = Accreditation
    fields = ("host_country", "post", "kind", "status", "accredited_on", "ended_on")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Attache)
class AttacheAdmin(LostUpdateGuard, HistoryMixin, admin.ModelAdmin):
    list_display = ("name", "rank", "service", "sending_country")
    list_filter = ("service", "sending_country")
    search_fields = ("name", "rank")
    readonly_fields = ("change_history",)
    inlines = [AccreditationInline]


class RelationshipAddForm(forms.ModelForm):
    class Meta:
        model = Relationship
        fields = ("state_a", "state_b", "notes")


@admin.register(Relationship)
class RelationshipAdmin(LostUpdateGuard, VisibleRecordsAdmin, HistoryMixin, admin.ModelAdmin):
    list_display = ("label", "state_a", "state_b", "created_at")
    list_filter = (("desks", VisibleRelatedListFilter),)
    search_fields = ("state_a", "state_b", "notes")
    readonly_fields = ("change_history",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("state_a", "state_b", "change_history") if obj else ("change_history",)

    def save_model(self, request: HttpRequest, obj: Relationship, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.relationship_get_or_create(country_a=obj.state_a, country_b=obj.state_b)
        if obj.notes and created.notes != obj.notes:
            created.notes = obj.notes
            created.save(update_fields=["notes"])
        obj.pk = created.pk
        obj._state.adding = False


@admin.register(CooperationArea)
class CooperationAreaAdmin(LostUpdateGuard, HistoryMixin, admin.ModelAdmin):
    list_display = ("code", "name", "position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Codes are stable identifiers used by the API and imports.
        return ("code", "change_history") if obj else ("change_history",)


class DeskRelationshipInline(admin.TabularInline):
    model = DeskRelationship
    extra = 1
    autocomplete_fields = ("relationship",)


class DeskOfficerInline(admin.TabularInline):
    model = DeskOfficer
    extra = 1
    autocomplete_fields = ("user",)


@admin.register(Desk)
class DeskAdmin(LostUpdateGuard, VisibleRecordsAdmin, HistoryMixin, admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)
    readonly_fields = ("change_history",)
    inlines = [DeskRelationshipInline, DeskOfficerInline]


# Accreditations ----------------------------------------------------------------------


class AccreditationAdminForm(forms.ModelForm):
    step = forms.ChoiceField(
        required=False,
        choices=[("", "—")] + [(name, name.replace("_", " ")) for name in services.ACCREDITATION_STEPS],
        help_text="Record the next lifecycle step (with its date below).",
    )
    step_on = forms.DateField(required=False, label="Step date", validators=[validate_calendar_date])
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Accreditation
        fields = ("attache", "post", "host_country", "requested_on", "releasability", "notes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
            self.fields["expected_version"].required = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("step") and not cleaned.get("step_on"):
            self.add_error("step_on", "Give the date of this step.")
        expected = cleaned.get("expected_version")
        if self.instance.pk and expected is not None:
            current = Accreditation.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
            if current != expected:
                raise ValidationError("Someone else changed this accreditation meanwhile. Reload the page.")
        return cleaned


@admin.register(Accreditation)
class AccreditationAdmin(VisibleRecordsAdmin, ServiceSaveMixin, HistoryMixin, admin.ModelAdmin):
    form = AccreditationAdminForm
    list_display = ("attache", "host_country", "post", "kind", "status", "accredited_on", "ended_on")
    list_filter = ("kind", "status", "releasability", "host_country")
    search_fields = ("attache__name", "post__name", "notes")
    list_select_related = ("attache", "post")
    autocomplete_fields = ("attache", "post")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("attache", "post", "host_country", "requested_on", "releasability", "notes")
        return (
            ("attache", "post", "host_country"),
            ("kind", "status", "relationship"),
            ("requested_on", "agrement_on", "accredited_on"),
            ("ended_on", "refused_on", "withdrawn_on"),
            "releasability",
            "notes",
            ("step", "step_on"),
            "expected_version",
            "change_history",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return (
            "attache",
            "post",
            "host_country",
            "kind",
            "status",
            "relationship",
            "requested_on",
            "agrement_on",
            "accredited_on",
            "ended_on",
            "refused_on",
            "withdrawn_on",
            "change_history",
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Accreditation, form: Any, change: bool) -> None:
        data = form.cleaned_data

        def write() -> None:
            if not change:
                created = services.accreditation_request(
                    actor=request.user,  # type: ignore[arg-type]
                    attache=data["attache"],
                    post=data["post"],
                    host_country=data["host_country"],
                    requested_on=data["requested_on"],
                    releasability=data["releasability"],
                    notes=data["notes"],
                )
                obj.pk = created.pk
                obj._state.adding = False
                return
            accreditation = services.accreditation_update(
                actor=request.user,  # type: ignore[arg-type]
                accreditation=obj,
                data={name: data[name] for name in ("releasability", "notes") if name in form.changed_data},
                expected_version=data["expected_version"],
            )
            if data.get("step"):
                step = getattr(services, f"accreditation_{data['step']}")
                step(actor=request.user, accreditation=accreditation, on=data["step_on"])

        self.save_through_services(request, write)


# Activities -----------------------------------------------------------------------------


class ActivityAdminForm(forms.ModelForm):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Activity
        fields = services.ACTIVITY_EDITABLE_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
            self.fields["expected_version"].required = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        expected = cleaned.get("expected_version")
        if self.instance.pk and expected is not None:
            current = Activity.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
            if current != expected:
                raise ValidationError("Someone else changed this activity meanwhile. Reload the page.")
        return cleaned


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(Activity)
class ActivityAdmin(VisibleRecordsAdmin, ServiceSaveMixin, HistoryMixin, admin.ModelAdmin):
    form = ActivityAdminForm
    visible_to_options = {"include_deleted": True}
    list_display = (
        "title",
        "relationship",
        "area",
        "kind",
        "level",
        "status",
        "start_date",
        "releasability",
        "deleted_at",
    )
    list_filter = (DeletedFilter, "area", "status", "kind", "level", "releasability", "start_date")
    search_fields = ("title", "location", "counterpart", "external_ref", "description")
    list_select_related = ("relationship", "area")
    autocomplete_fields = ("relationship", "accreditation")
    date_hierarchy = "start_date"
    readonly_fields = (
        "version",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "deleted_at",
        "deleted_by",
        "change_history",
    )
    actions = ["soft_delete", "restore"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting is soft, through the service
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Activity, form: Any, change: bool) -> None:
        data = {
            name: form.cleaned_data[name] for name in services.ACTIVITY_EDITABLE_FIELDS if name in form.cleaned_data
        }

        def write() -> None:
            if change:
                services.activity_update(
                    actor=request.user,  # type: ignore[arg-type]
                    activity=obj,
                    data={name: value for name, value in data.items() if name in form.changed_data},
                    expected_version=form.cleaned_data["expected_version"],
                )
            else:
                created = services.activity_create(actor=request.user, **data)  # type: ignore[arg-type]
                obj.pk = created.pk
                obj._state.adding = False

        self.save_through_services(request, write)

    @admin.action(description="Delete selected activities (soft: they can be restored)")
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[Activity]) -> None:
        for activity in queryset:
            services.activity_soft_delete(actor=request.user, activity=activity, expected_version=None)  # type: ignore[arg-type]
        self.message_user(request, f"{queryset.count()} activities deleted; they can be restored.")

    @admin.action(description="Restore selected activities")
    def restore(self, request: HttpRequest, queryset: QuerySet[Activity]) -> None:
        for activity in queryset:
            services.activity_restore(actor=request.user, activity=activity)  # type: ignore[arg-type]
        self.message_user(request, f"{queryset.count()} activities restored.")


# The intensity index's weight sets and rollups live in their own module.
from cooperation import admin_intensity  # noqa: E402, F401


@admin.register(TaskFailure)
class TaskFailureAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("failed_at", "task_name", "retries", "exception")
    list_filter = ("task_name", "failed_at")
    search_fields = ("task_name", "task_id", "exception")
    date_hierarchy = "failed_at"
    readonly_fields = ("failed_at", "task_name", "task_id", "args", "kwargs", "retries", "exception", "traceback")

    deletable = True  # a handled failure may be cleared


# The monthly digest's send log and "send now" live in their own module.
from cooperation import admin_digest  # noqa: E402, F401
