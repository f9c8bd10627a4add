"""Admin for the intensity index: weight sets (edited and activated through
`cooperation.weight_sets`) and the rollups, read-only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from attache.lost_update_admin import LostUpdateGuard
from attache.read_only_admin import ReadOnlyAdmin
from cooperation import weight_sets
from cooperation.admin import HistoryMixin, ServiceSaveMixin, VisibleRecordsAdmin, VisibleRelatedListFilter
from cooperation.choices import WeightSetStatus
from cooperation.models import CooperationArea, IntensityRollup, WeightSet
from cooperation.models.intensity import DEFAULT_AREA_WEIGHT, LEVEL_WEIGHT_FIELDS

LEVEL_FIELDS = tuple(LEVEL_WEIGHT_FIELDS.values())


def _area_field_name(area: CooperationArea) -> str:
    return f"area_{area.pk}"


class WeightSetAdminForm(forms.ModelForm):
    """Name, description, level weights and one weight per area (default 1.0).

    The per-area fields are added by `WeightSetAdmin.get_form`, one per existing area.
    """

    areas: list[CooperationArea] = []

    class Meta:
        model = WeightSet
        fields = ("name", "description", *LEVEL_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            stored = dict(self.instance.area_weights.values_list("area_id", "weight"))
            for area in self.areas:
                name = _area_field_name(area)
                if name in self.fields:
                    self.fields[name].initial = stored.get(area.pk, DEFAULT_AREA_WEIGHT)

    def area_weights(self) -> dict[CooperationArea, Decimal]:
        return {
            area: self.cleaned_data[_area_field_name(area)]
            for area in self.areas
            if self.cleaned_data.get(_area_field_name(area)) is not None
        }


@admin.register(WeightSet)
class WeightSetAdmin(LostUpdateGuard, ServiceSaveMixin, HistoryMixin, admin.ModelAdmin):
    form = WeightSetAdminForm
    list_display = ("name", "status", *LEVEL_FIELDS, "created_at", "first_activated_at")
    list_filter = ("status",)
    search_fields = ("name", "description")
    actions = ["activate", "copy"]

    def _areas(self) -> list[CooperationArea]:
        return list(CooperationArea.objects.order_by("position", "name"))

    def lost_update_extra_state(self, request: HttpRequest, obj: WeightSet) -> dict[str, tuple[str, Any]]:
        """The area weights live in their own rows; the status decides whether the weights
        may change at all (a set activated meanwhile is frozen)."""
        stored = dict(obj.area_weights.values_list("area_id", "weight"))
        return {
            "status": ("Status", obj.get_status_display()),
            **{
                f"area_weight:{area.pk}": (f"Weight of area “{area.name}”", stored.get(area.pk, DEFAULT_AREA_WEIGHT))
                for area in self._areas()
            },
        }

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        areas = self._areas()
        attrs: dict[str, Any] = {"areas": areas}
        if obj is None or not obj.is_frozen:
            for area in areas:
                attrs[_area_field_name(area)] = forms.DecimalField(
                    label=f"Weight of area “{area.name}”",
                    max_digits=8,
                    decimal_places=3,
                    min_value=Decimal("0.001"),
                    max_value=Decimal(1000),
                    initial=DEFAULT_AREA_WEIGHT,
                )
        kwargs["form"] = type("WeightSetAdminForm", (WeightSetAdminForm,), attrs)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.is_frozen:
            return [
                (None, {"fields": ("name", "description", "status", "first_activated_at", "created_at")}),
                ("Weights (frozen: copy the set to change them)", {"fields": (*LEVEL_FIELDS, "area_weight_table")}),
                ("History", {"fields": ("change_history",)}),
            ]
        area_fields = tuple(_area_field_name(area) for area in self._areas())
        fieldsets: list[Any] = [
            (None, {"fields": ("name", "description")}),
            ("Level weights", {"fields": LEVEL_FIELDS}),
            ("Area weights (an area added later weighs 1.0 until set here)", {"fields": area_fields}),
        ]
        if obj is not None:
            fieldsets.append(("History", {"fields": ("status", "change_history")}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.is_frozen:
            return ("status", "first_activated_at", "created_at", *LEVEL_FIELDS, "area_weight_table", "change_history")
        return ("status", "change_history")

    @admin.display(description="Area weights")
    def area_weight_table(self, obj: WeightSet) -> SafeString:
        stored = dict(obj.area_weights.values_list("area_id", "weight"))
        return format_html_join(
            "",
            "<div>{}: {}</div>",
            ((area.name, stored.get(area.pk, DEFAULT_AREA_WEIGHT)) for area in self._areas()),
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.status == WeightSetStatus.DRAFT)

    def save_model(self, request: HttpRequest, obj: WeightSet, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.Meta.fields}

        def write() -> None:
            if change:
                weight_sets.weight_set_update(
                    actor=request.user,  # type: ignore[arg-type]
                    weight_set=obj,
                    data=data,
                    area_weights=None if obj.is_frozen else form.area_weights(),
                )
            else:
                created = weight_sets.weight_set_create(
                    actor=request.user,  # type: ignore[arg-type]
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data.get("description", ""),
                    level_weights={level: form.cleaned_data[field] for level, field in LEVEL_WEIGHT_FIELDS.items()},
                    area_weights=form.area_weights(),
                )
                obj.pk = created.pk
                obj._state.adding = False

        self.save_through_services(request, write)

    def delete_model(self, request: HttpRequest, obj: WeightSet) -> None:
        weight_sets.weight_set_delete(actor=request.user, weight_set=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WeightSet]) -> None:
        for weight_set in queryset:
            try:
                self.delete_model(request, weight_set)
            except ValidationError as error:
                self.message_user(request, "; ".join(error.messages), messages.ERROR)

    @admin.action(description="Activate the selected weight set (recomputes every figure)")
    def activate(self, request: HttpRequest, queryset: QuerySet[WeightSet]) -> None:
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(request, "Select exactly one weight set to activate.", messages.ERROR)
            return
        try:
            weight_set = weight_sets.weight_set_activate(actor=request.user, weight_set=chosen[0])  # type: ignore[arg-type]
        except (ValidationError, PermissionDenied) as error:
            self.message_user(request, "; ".join(getattr(error, "messages", [str(error)])), messages.ERROR)
            return
        weight_set.refresh_from_db()
        if weight_set.status == WeightSetStatus.ACTIVE:
            self.message_user(request, f"“{weight_set.name}” is now the active weight set; every figure uses it.")
        else:
            self.message_user(
                request,
                f"“{weight_set.name}” is being activated: its figures are being computed in the background and it "
                "becomes the active set when they are complete. Until then the current set stays active.",
            )

    @admin.action(description="Copy the selected weight sets as new drafts")
    def copy(self, request: HttpRequest, queryset: QuerySet[WeightSet]) -> None:
        names = set(WeightSet.objects.values_list("name", flat=True))
        copies = []
        for weight_set in queryset:
            name, number = f"{weight_set.name} (copy)", 2
            while name in names:
                name, number = f"{weight_set.name} (copy {number})", number + 1
            names.add(name)
            copies.append(weight_sets.weight_set_copy(actor=request.user, weight_set=weight_set, name=name))  # type: ignore[arg-type]
        self.message_user(request, f"Created {', '.join(copy.name for copy in copies)}: edit, then activate.")


@admin.register(IntensityRollup)
class IntensityRollupAdmin(VisibleRecordsAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    """Derived data: viewable, never edited (rebuild with `manage.py rebuild_intensity`)."""

    list_display = (
        "weight_set", "relationship", "area", "month", "releasability", "conducted", "intensity", "pipeline",
    )  # fmt: skip
    list_filter = ("weight_set", "area", "releasability", ("relationship", VisibleRelatedListFilter))
    search_fields = ("relationship__state_a", "relationship__state_b", "area__name")
    list_select_related = ("weight_set", "relationship", "area")
    date_hierarchy = "month"
