"""Activity pages: list (filters, sorting, pagination, export), detail with history,
create, edit, duplicate, cancel, delete and restore."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django_tables2 import RequestConfig

from cooperation import services
from cooperation.back import back_to_list, list_as_shown, passing_on
from cooperation.choices import ActivityStatus
from cooperation.exporters import EXPORT_COLUMNS, csv_stream, export_rows, xlsx_file
from cooperation.filtersets import ActivityFilterSet
from cooperation.forms import ActivityForm, VersionForm, add_service_error, duplicate_initial
from cooperation.models import Activity
from cooperation.permissions import can_write_record, is_writer
from cooperation.selectors import describe_changes, history_for
from cooperation.tables import PER_PAGE_CHOICES, ActivityTable
from cooperation.views.access import WorkspaceAccess, shows_deleted

# The filters the list page shows; any other filter of the FilterSet still works in the URL.
LIST_FILTERS = ("q", "area", "relationship", "country", "status", "kind", "level", "start_date")
CHECKBOX_FILTERS = ("area", "status", "level")


def use_checkboxes(form: forms.Form, names: tuple[str, ...]) -> None:
    """Show multiple-choice filters as ticked boxes (the panel's `_filter_field.html`)."""
    for name in names:
        field = cast(forms.ChoiceField, form.fields[name])
        field.widget = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})
        field.widget.choices = field.choices


def activity_filterset(request: HttpRequest) -> ActivityFilterSet:
    """The shared FilterSet over what the user may see, with the list page's widgets."""
    queryset = Activity.objects.visible_to(request.user).select_related("relationship", "area")  # type: ignore[arg-type]
    filterset = ActivityFilterSet(request.GET, queryset=queryset, request=request)
    use_checkboxes(filterset.form, CHECKBOX_FILTERS)
    fields = filterset.form.fields
    fields["country"].empty_label = "Any country"
    fields["start_date"].label = "Start date"
    # The two boxes share the legend "Start date": each needs a name of its own.
    for widget, bound in zip(fields["start_date"].widget.widgets, ("from", "to"), strict=True):
        widget.input_type = "date"
        widget.attrs["aria-label"] = f"Start date {bound}"
    fields["q"].widget.input_type = "search"
    fields["q"].widget.attrs["placeholder"] = "Title, place, counterpart…"
    fields["relationship"].widget.attrs["size"] = 4
    fields["kind"].widget.attrs["size"] = 4
    return filterset


@dataclasses.dataclass(frozen=True)
class OtherFilter:
    """A filter set in the URL that the panel has no box for."""

    label: str
    value: str  # as people read it, or what is wrong with it
    invalid: bool
    params: list[tuple[str, str]]  # the URL's parameters for it, sent again with the panel's
    without_url: str  # the same list without it


def _readable_bound(value: Any) -> str:
    if isinstance(value, Model):
        # By name only what a visibility rule let through (an accreditation the user may
        # see); any other record (an attaché: any id is accepted) by its number.
        scoped = hasattr(type(value)._default_manager, "visible_to")
        return str(value) if scoped else f"#{value.pk}"
    if isinstance(value, datetime.datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"
    if isinstance(value, datetime.date):
        return f"{value:%Y-%m-%d}"
    return str(value)


def _readable_filter_value(field: forms.Field, value: Any) -> str:
    if isinstance(value, slice):  # a range filter
        bounds = (("from", value.start), ("to", value.stop))
        return " ".join(f"{word} {_readable_bound(bound)}" for word, bound in bounds if bound is not None)
    values = list(value) if isinstance(value, list | tuple | QuerySet) else [value]
    labels = dict(getattr(field, "choices", None) or []) if not hasattr(field, "queryset") else {}
    return ", ".join(str(labels.get(item, _readable_bound(item))) for item in values)


def other_filters(request: HttpRequest, filterset: ActivityFilterSet, shown: tuple[str, ...]) -> list[OtherFilter]:
    """Filters in the URL beyond the panel's (a link from an accreditation, a dashboard, a
    colleague): named above the results, kept when the panel's filters change."""
    form = filterset.form
    cleaned = getattr(form, "cleaned_data", {})
    found = []
    for name in filterset.filters:
        if name in shown:
            continue
        field = form.fields[name]
        suffixes = getattr(field.widget, "suffixes", None)
        keys = [f"{name}_{suffix}" if suffix else name for suffix in suffixes] if suffixes else [name]
        params = [(key, value) for key in keys for value in request.GET.getlist(key) if value != ""]
        if not params:
            continue
        invalid = name in form.errors
        value = " ".join(form.errors[name]) if invalid else _readable_filter_value(field, cleaned.get(name))
        query = request.GET.copy()
        for key in [*keys, "page"]:
            query.pop(key, None)
        without = f"{reverse('workspace:activity_list')}?{query.urlencode()}"
        found.append(
            OtherFilter(
                label=str(field.label),
                value=value,
                invalid=invalid,
                params=params,
                without_url=without,
            )
        )
    return found


def ordered_activities(request: HttpRequest, queryset: QuerySet[Activity], *, back: str = "") -> ActivityTable:
    table = ActivityTable(queryset, back=back)
    RequestConfig(request, paginate=True).configure(table)  # page sizes: ListTable.paginate
    return table


class ActivityListView(WorkspaceAccess, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = activity_filterset(request)
        valid = filterset.is_valid()
        table = ordered_activities(
            request, filterset.qs if valid else Activity.objects.none(), back=list_as_shown(request)
        )
        context = {
            "filterset": filterset,
            "filter_fields": [filterset.form[name] for name in LIST_FILTERS],
            "other_filters": other_filters(request, filterset, LIST_FILTERS),
            "table": table,
            "total": table.paginator.count,
            "per_page_choices": PER_PAGE_CHOICES,
            "can_write": is_writer(request.user),
            "query": request.GET.urlencode(),
            "submission_refused": not valid,
        }
        htmx = getattr(request, "htmx", None)
        partial = bool(htmx) and not htmx.boosted  # type: ignore[union-attr]
        template = "workspace/_activity_results.html" if partial else "workspace/activity_list.html"
        # htmx swaps only successful answers; the partial says itself that a filter is wrong.
        return render(request, template, context, status=200 if valid or partial else 400)


class ActivityExportView(WorkspaceAccess, View):
    """The list as the user sees it (filters, sort), every page of it, streamed."""

    def get(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        filterset = activity_filterset(request)
        if not filterset.is_valid():
            messages.error(request, "Export refused: correct the filters first.")
            return redirect(f"{reverse('workspace:activity_list')}?{request.GET.urlencode()}")
        table = ActivityTable(filterset.qs)
        RequestConfig(request, paginate=False).configure(table)
        queryset: QuerySet[Activity] = table.data.data
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        rows = export_rows(queryset.select_related(None))
        if fmt == "csv":
            response = StreamingHttpResponse(csv_stream(EXPORT_COLUMNS, rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="activities-{stamp}.csv"'
            return response
        return FileResponse(
            xlsx_file(EXPORT_COLUMNS, rows, title="Activities"),
            as_attachment=True,
            filename=f"activities-{stamp}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )


class ActivityDetailView(WorkspaceAccess, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        activity = self.visible_activity(pk, include_deleted=shows_deleted(request.user))
        can_write = can_write_record(
            request.user, relationship_id=activity.relationship_id, releasability=activity.releasability
        )
        return render(
            request,
            "workspace/activity_detail.html",
            {
                "activity": activity,
                "history": history_for(activity, limit=100, viewer=request.user),
                "can_write": can_write,
                "is_cancelled": activity.status == ActivityStatus.CANCELLED,
            },
        )


def already_created(
    request: HttpRequest, form_class: Any, record: Any, fields: list[str], url: str, **form_kwargs: Any
) -> tuple[Any, dict[str, Any]]:
    """The form again after its key's first submission created `record`: from other values
    (`fields`, from `DuplicateSubmission`), or a record deleted since.

    The user's entries are kept; the form gets a fresh key, so saving it again is a
    deliberate second record made after reading which record the first save created.
    """
    data = request.POST.copy()
    data["idempotency_key"] = str(uuid.uuid4())
    form = form_class(data, user=request.user, **form_kwargs)
    form.is_valid()
    context = {
        "record": record,
        "url": url,
        "deleted": getattr(record, "is_deleted", False),
        "changes": [form[name].label for name in fields if name in form.fields],
    }
    return form, {"already_created": context}


def _render_form(request: HttpRequest, form: ActivityForm, *, status: int = 200, **context: Any) -> HttpResponse:
    return render(request, "workspace/activity_form.html", {"form": form, **context}, status=status)


def _already_created_page(request: HttpRequest, activity: Activity, fields: list[str]) -> HttpResponse:
    url = passing_on(request, "workspace:activity_detail", activity.pk)
    form, context = already_created(request, ActivityForm, activity, fields, url)
    return _render_form(request, form, status=409, **context)


class ActivityCreateView(WorkspaceAccess, View):
    writes = True

    def get(self, request: HttpRequest) -> HttpResponse:
        form = ActivityForm(user=request.user, initial={"start_date": timezone.localdate()})
        return _render_form(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ActivityForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                activity = form.save()
            except services.DuplicateSubmission as duplicate:
                return _already_created_page(request, duplicate.instance, duplicate.fields)
            if not form.errors:
                if activity.is_deleted:  # a replay of a key whose activity was deleted since
                    return _already_created_page(request, activity, [])
                messages.success(request, f"Activity “{activity.title}” created.")
                return redirect(passing_on(request, "workspace:activity_detail", activity.pk))
        return _render_form(request, form, status=400)


class ActivityDuplicateView(WorkspaceAccess, View):
    """A create form filled in from another activity (planned, without its reference)."""

    writes = True

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        source = self.writable_activity(pk)
        form = ActivityForm(user=request.user, initial=duplicate_initial(source))
        return _render_form(request, form, source=source)


class ActivityEditView(WorkspaceAccess, View):
    writes = True

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        activity = self.writable_activity(pk)
        if activity.is_deleted:
            messages.error(request, "This activity is deleted: restore it before editing.")
            return redirect(passing_on(request, "workspace:activity_detail", pk))
        return _render_form(request, ActivityForm(instance=activity, user=request.user), activity=activity)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        activity = self.writable_activity(pk)
        form = ActivityForm(request.POST, instance=activity, user=request.user)
        if form.is_valid():
            try:
                saved = form.save()
            except services.StaleVersion as stale:
                return self.stale(request, stale)
            if not form.errors:
                messages.success(request, f"Activity “{saved.title}” saved.")
                return redirect(passing_on(request, "workspace:activity_detail", saved.pk))
        return _render_form(request, form, status=400, activity=self.writable_activity(pk))

    def stale(self, request: HttpRequest, stale: services.StaleVersion) -> HttpResponse:
        """Someone saved first: show what they changed, keep what this user typed.

        The form now carries the current version, so saving again is a deliberate
        choice made after seeing the other changes.
        """
        current: Activity = stale.instance
        data = request.POST.copy()
        data["version"] = str(current.version)
        form = ActivityForm(data, instance=current, user=request.user)
        form.is_valid()
        return _render_form(
            request,
            form,
            status=409,
            activity=current,
            stale_changes=describe_changes(Activity, stale.changes, viewer=request.user),
            stale_versions=(stale.expected_version, stale.current_version),
        )


class ActivityActionView(WorkspaceAccess, View):
    """Cancel, delete (soft) or restore one activity: a confirmation page, then a POST."""

    writes = True
    action = ""
    wording = {
        "cancel": ("Cancel this activity", "Its status becomes “cancelled”; it stays in the register."),
        "delete": ("Delete this activity", "It disappears from lists, totals and exports; it can be restored."),
        "restore": ("Restore this activity", "It comes back into lists, totals and exports."),
    }

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        activity = self.writable_activity(pk)
        form = VersionForm(initial={"version": activity.version})
        return self.confirm(request, activity, form)

    def confirm(self, request: HttpRequest, activity: Activity, form: VersionForm, **context: Any) -> HttpResponse:
        title, explanation = self.wording[self.action]
        status = context.pop("status", 200)
        return render(
            request,
            "workspace/activity_confirm.html",
            {"activity": activity, "form": form, "action": self.action, "title": title, "explanation": explanation}
            | context,
            status=status,
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        activity = self.writable_activity(pk)
        form = VersionForm(request.POST)
        if not form.is_valid():
            return self.confirm(request, activity, form, status=400)
        version = form.cleaned_data["version"]
        try:
            if self.action == "cancel":
                done = services.activity_update(
                    actor=request.user,  # type: ignore[arg-type]
                    activity=activity,
                    data={"status": ActivityStatus.CANCELLED},
                    expected_version=version,
                )
                messages.success(request, f"Activity “{done.title}” cancelled.")
            elif self.action == "delete":
                done = services.activity_soft_delete(actor=request.user, activity=activity, expected_version=version)  # type: ignore[arg-type]
                messages.success(
                    request, f"Activity “{done.title}” deleted. It can be restored from Deleted activities."
                )
                return redirect(back_to_list(request, "workspace:activity_list"))
            else:
                done = services.activity_restore(actor=request.user, activity=activity, expected_version=version)  # type: ignore[arg-type]
                messages.success(request, f"Activity “{done.title}” restored.")
        except services.StaleVersion as stale:
            fresh = VersionForm(initial={"version": stale.current_version})
            return self.confirm(
                request,
                stale.instance,
                fresh,
                status=409,
                stale_changes=describe_changes(Activity, stale.changes, viewer=request.user),
                stale_versions=(stale.expected_version, stale.current_version),
            )
        except ValidationError as error:
            add_service_error(form, error)
            return self.confirm(request, activity, form, status=400)
        return redirect(passing_on(request, "workspace:activity_detail", done.pk))


class DeletedActivityListView(WorkspaceAccess, View):
    writes = True

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = (
            Activity.objects.visible_to(request.user, include_deleted=True)  # type: ignore[arg-type]
            .deleted()
            .select_related("relationship", "area")
        )
        table = ordered_activities(request, queryset)
        return render(request, "workspace/activity_deleted.html", {"table": table, "total": table.paginator.count})
