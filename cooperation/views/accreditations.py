"""Accreditation pages: list, detail with lifecycle and history, request (create),
edit, lifecycle steps, and an attaché's timeline."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View
from django_tables2 import RequestConfig

from cooperation import services
from cooperation.back import list_as_shown, passing_on
from cooperation.filtersets import AccreditationFilterSet
from cooperation.forms import (
    ACCREDITATION_STEP_LABELS,
    AccreditationEditForm,
    AccreditationRequestForm,
    AccreditationStepForm,
)
from cooperation.models import Accreditation, Activity, Attache
from cooperation.permissions import can_write_record, is_writer
from cooperation.selectors import accreditation_timeline, concurrent_riding_on, describe_changes, history_for
from cooperation.tables import AccreditationTable
from cooperation.views.access import WorkspaceAccess
from cooperation.views.activities import already_created, use_checkboxes

LIST_FILTERS = ("q", "status", "kind", "host_country", "relationship")
CHECKBOX_FILTERS = ("status", "kind")


class AccreditationListView(WorkspaceAccess, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = Accreditation.objects.visible_to(request.user).select_related("attache", "post")  # type: ignore[arg-type]
        filterset = AccreditationFilterSet(request.GET, queryset=queryset, request=request)
        use_checkboxes(filterset.form, CHECKBOX_FILTERS)
        valid = filterset.is_valid()
        filterset.form.fields["relationship"].widget.attrs["size"] = 3
        filterset.form.fields["host_country"].empty_label = "Any country"
        table = AccreditationTable(filterset.qs if valid else Accreditation.objects.none(), back=list_as_shown(request))
        RequestConfig(request, paginate=True).configure(table)  # page sizes: ListTable.paginate
        return render(
            request,
            "workspace/accreditation_list.html",
            {
                "filterset": filterset,
                "filter_fields": [filterset.form[name] for name in LIST_FILTERS],
                "table": table,
                "total": table.paginator.count,
                "can_write": is_writer(request.user),
                "submission_refused": not valid,
            },
            status=200 if valid else 400,
        )


class AccreditationDetailView(WorkspaceAccess, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        accreditation = self.visible_accreditation(pk)
        can_write = can_write_record(
            request.user, relationship_id=accreditation.relationship_id, releasability=accreditation.releasability
        )
        steps = [
            (action, ACCREDITATION_STEP_LABELS[action])
            for action, (allowed_from, *_rest) in services.ACCREDITATION_STEPS.items()
            if accreditation.status in allowed_from
        ]
        activities = Activity.objects.visible_to(request.user).filter(accreditation=accreditation)  # type: ignore[arg-type]
        return render(
            request,
            "workspace/accreditation_detail.html",
            {
                "accreditation": accreditation,
                "steps": steps if can_write else [],
                "can_write": can_write,
                "history": history_for(accreditation, limit=100, viewer=request.user),
                "activity_count": activities.count(),
                "lifecycle": [
                    ("Requested", accreditation.requested_on),
                    ("Agrément granted", accreditation.agrement_on),
                    ("Accredited", accreditation.accredited_on),
                    ("Ended", accreditation.ended_on),
                    ("Refused", accreditation.refused_on),
                    ("Withdrawn", accreditation.withdrawn_on),
                ],
            },
        )


class AccreditationCreateView(WorkspaceAccess, View):
    writes = True

    def get(self, request: HttpRequest) -> HttpResponse:
        form = AccreditationRequestForm(user=request.user, initial={"requested_on": timezone.localdate()})
        return render(request, "workspace/accreditation_form.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AccreditationRequestForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                accreditation = form.save()
            except services.DuplicateSubmission as duplicate:
                url = passing_on(request, "workspace:accreditation_detail", duplicate.instance.pk)
                form, context = already_created(
                    request, AccreditationRequestForm, duplicate.instance, duplicate.fields, url
                )
                return render(request, "workspace/accreditation_form.html", {"form": form, **context}, status=409)
            if accreditation is not None:
                messages.success(request, "Accreditation requested.")
                return redirect(passing_on(request, "workspace:accreditation_detail", accreditation.pk))
        return render(request, "workspace/accreditation_form.html", {"form": form}, status=400)


class AccreditationEditView(WorkspaceAccess, View):
    writes = True

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        accreditation = self.writable_accreditation(pk)
        form = AccreditationEditForm(user=request.user, accreditation=accreditation)
        return render(request, "workspace/accreditation_edit.html", {"form": form, "accreditation": accreditation})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        accreditation = self.writable_accreditation(pk)
        form = AccreditationEditForm(request.POST, user=request.user, accreditation=accreditation)
        context: dict[str, object] = {"accreditation": accreditation}
        if form.is_valid():
            try:
                saved = form.save()
            except services.StaleVersion as stale:
                data = request.POST.copy()
                data["version"] = str(stale.current_version)
                form = AccreditationEditForm(data, user=request.user, accreditation=stale.instance)
                form.is_valid()
                context |= {
                    "stale_changes": describe_changes(Accreditation, stale.changes, viewer=request.user),
                    "stale_versions": (stale.expected_version, stale.current_version),
                }
                return render(request, "workspace/accreditation_edit.html", {"form": form, **context}, status=409)
            if saved is not None:
                messages.success(request, "Accreditation saved.")
                return redirect(passing_on(request, "workspace:accreditation_detail", pk))
        return render(request, "workspace/accreditation_edit.html", {"form": form, **context}, status=400)


class AccreditationStepView(WorkspaceAccess, View):
    """One lifecycle step (agrément granted, accredited, ended, refused, withdrawn) with its date."""

    writes = True

    def _context(self, accreditation: Accreditation, action: str, form: AccreditationStepForm) -> dict[str, object]:
        return {
            "accreditation": accreditation,
            "form": form,
            "step": ACCREDITATION_STEP_LABELS[action],
            "riding": self._riding(accreditation, action),
        }

    def _riding(self, accreditation: Accreditation, action: str) -> list[Accreditation]:
        """Ending a resident accreditation ends these too: the user is told before and after."""
        return concurrent_riding_on(accreditation, viewer=self.request.user) if action == "end" else []

    def get(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        accreditation = self.writable_accreditation(pk)
        form = AccreditationStepForm(user=request.user, accreditation=accreditation, action=action)
        return render(request, "workspace/accreditation_step.html", self._context(accreditation, action, form))

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        accreditation = self.writable_accreditation(pk)
        form = AccreditationStepForm(request.POST, user=request.user, accreditation=accreditation, action=action)
        riding = self._riding(accreditation, action)
        if form.is_valid():
            try:
                saved = form.save()
            except services.StaleVersion as stale:
                fresh = AccreditationStepForm(
                    user=request.user,
                    accreditation=stale.instance,
                    action=action,
                    initial={"on": form.cleaned_data["on"], "version": stale.current_version},
                )
                context = self._context(stale.instance, action, fresh) | {
                    "stale_changes": describe_changes(Accreditation, stale.changes, viewer=request.user),
                    "stale_versions": (stale.expected_version, stale.current_version),
                }
                return render(request, "workspace/accreditation_step.html", context, status=409)
            if saved is not None:
                done = f"Recorded: {ACCREDITATION_STEP_LABELS[action].lower()}."
                if riding:
                    done += f" Ended with it: {'; '.join(str(concurrent) for concurrent in riding)}."
                messages.success(request, done)
                return redirect(passing_on(request, "workspace:accreditation_detail", pk))
        return render(
            request, "workspace/accreditation_step.html", self._context(accreditation, action, form), status=400
        )


class AttacheDetailView(WorkspaceAccess, View):
    """An attaché and the timeline of the resident and concurrent accreditations the user may see.

    An attaché none of whose accreditations the user may see does not exist for them.
    """

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        attache = get_object_or_404(Attache, pk=pk)
        accreditations = list(
            Accreditation.objects.visible_to(request.user)  # type: ignore[arg-type]
            .filter(attache=attache)
            .select_related("post")
            .order_by("requested_on", "id")
        )
        if not accreditations and not request.user.is_admin_role:  # type: ignore[union-attr]
            raise Http404("No such attaché.")
        timeline = accreditation_timeline(accreditations, today=timezone.localdate())
        return render(
            request,
            "workspace/attache_detail.html",
            {"attache": attache, "accreditations": accreditations, "timeline": timeline},
        )
