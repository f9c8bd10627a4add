"""Bulk import of activities: template download, upload with dry run, then commit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from attache.uploads import LeaveUnread, declared_size, largest_upload_body, megabytes
from cooperation.back import back_to_list, passing_on
from cooperation.bulk import IMPORT_COLUMNS, REQUIRED_COLUMNS, BulkImportResult, activity_bulk_import
from cooperation.choices import ActivityKind, ActivityLevel, ActivityStatus, Classification
from cooperation.exporters import csv_stream, template_rows, xlsx_file
from cooperation.forms import ImportUploadForm
from cooperation.importers import (
    ImportFile,
    ImportFileError,
    discard_staged,
    load_staged,
    read_import_file,
    stage_upload,
    too_large,
)
from cooperation.models import CooperationArea
from cooperation.views.access import WorkspaceAccess

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def column_help() -> list[tuple[str, bool, str]]:
    """(column, required, what to write) for the import page."""
    areas = ", ".join(CooperationArea.objects.filter(is_active=True).values_list("code", flat=True))
    described = {
        "external_ref": "Your identifier of the activity, unique; importing it again updates that activity.",
        "state_a": "ISO 3166 code of one state of the relationship, e.g. BY.",
        "state_b": "ISO 3166 code of the other state, e.g. US (either order).",
        "area": f"Area code: {areas}.",
        "title": "Up to 300 characters.",
        "kind": ", ".join(ActivityKind.values),
        "level": f"{', '.join(ActivityLevel.values)} (default working).",
        "status": f"{', '.join(ActivityStatus.values)} (default planned).",
        "start_date": "YYYY-MM-DD (or a date cell in XLSX).",
        "end_date": "YYYY-MM-DD; empty for a one-day activity.",
        "location": "Up to 200 characters.",
        "participants": "A whole number, 0 or more.",
        "counterpart": "Counterpart organisation, up to 200 characters.",
        "description": "Free text.",
        "outcome": "Free text.",
        "releasability": f"{', '.join(member.code for member in Classification)} (default internal).",
        "accreditation": "Number of the accreditation the activity ran through, if any (shown on its page).",
    }
    return [(name, name in REQUIRED_COLUMNS, described[name]) for name in IMPORT_COLUMNS]


class ImportTemplateView(WorkspaceAccess, View):
    writes = True

    def get(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        if fmt == "csv":
            response = StreamingHttpResponse(
                csv_stream(IMPORT_COLUMNS, template_rows()), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = 'attachment; filename="activities-template.csv"'
            return response
        return FileResponse(
            xlsx_file(IMPORT_COLUMNS, template_rows(), title="Activities"),
            as_attachment=True,
            filename="activities-template.xlsx",
            content_type=XLSX_TYPE,
        )


def _render(request: HttpRequest, form: ImportUploadForm, *, status: int = 200, **context: Any) -> HttpResponse:
    report = context.get("report")
    return render(
        request,
        "workspace/activity_import.html",
        {
            "form": form,
            "columns": column_help(),
            "max_rows": settings.IMPORT_MAX_ROWS,
            "max_mb": megabytes(settings.IMPORT_MAX_BYTES),
            "submission_refused": report is not None and not report["result"].ok,  # rows the form cannot name
            **context,
        },
        status=status,
    )


@method_decorator(csrf_exempt, name="dispatch")
class ImportView(WorkspaceAccess, View):
    """Upload → every row checked (a dry run) → a report; a clean file is kept for the commit.

    A body too large to carry an acceptable file is refused by its declared size before it
    is read (attache/uploads.py), on this page rather than the generic 413. The CSRF
    middleware would read the body to find the token, so this view checks the token itself
    (`csrf_protect`), right after the size: the refusal reads, writes and reveals nothing.
    """

    writes = True

    def get(self, request: HttpRequest) -> HttpResponse:
        return _render(request, ImportUploadForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        size = declared_size(request)
        if size > largest_upload_body():
            request.upload_handlers = [LeaveUnread()]  # the page reads `back` from request.POST
            return _render(request, ImportUploadForm.refusing(too_large(size)), status=413)
        return self.check_file(request)

    @method_decorator(csrf_protect)
    def check_file(self, request: HttpRequest) -> HttpResponse:
        form = ImportUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return _render(request, form, status=400)
        upload = form.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            form.add_error("file", too_large(upload.size))
            return _render(request, form, status=413)
        data = upload.read()
        try:
            parsed = read_import_file(data)
        except ImportFileError as error:
            form.add_error("file", str(error))
            return _render(request, form, status=400)
        result = activity_bulk_import(actor=request.user, rows=parsed.rows, dry_run=True)  # type: ignore[arg-type]
        token = (
            stage_upload(user_id=_user_id(request), data=data, versions=result.versions)
            if result.ok and (result.created or result.updated)
            else ""
        )
        return _render(
            request,
            ImportUploadForm(),
            status=200 if result.ok else 400,
            report=_report(parsed, result),
            token=token,
            filename=upload.name,
        )


class ImportCommitView(WorkspaceAccess, View):
    """Write the checked file, all or nothing; rows are checked again as they are written,
    and a row whose activity was created or changed since the check is refused."""

    writes = True

    def post(self, request: HttpRequest) -> HttpResponse:
        staged = load_staged(user_id=_user_id(request), token=request.POST.get("token", ""))
        if staged is None:
            messages.error(request, "That upload is no longer waiting to be imported: upload the file again.")
            return redirect(passing_on(request, "workspace:activity_import"))
        try:
            parsed = read_import_file(staged.data)
        except ImportFileError as error:  # the staged file was checked already; defensive
            messages.error(request, str(error))
            return redirect(passing_on(request, "workspace:activity_import"))
        result = activity_bulk_import(
            actor=request.user,  # type: ignore[arg-type]
            rows=parsed.rows,
            expected_versions=staged.versions,
        )
        if not result.committed:
            return _render(
                request,
                ImportUploadForm(),
                status=409,
                report=_report(parsed, result),
                token="",
                filename=request.POST.get("filename", ""),
            )
        discard_staged(user_id=_user_id(request))
        messages.success(
            request,
            f"Import done: {result.created} created, {result.updated} updated, {result.unchanged} unchanged.",
        )
        return redirect(back_to_list(request, "workspace:activity_list"))


def _user_id(request: HttpRequest) -> int:
    pk: int = request.user.pk  # type: ignore[assignment]  # signed in: WorkspaceAccess
    return pk


def _report(parsed: ImportFile, result: BulkImportResult) -> dict[str, Any]:
    return {
        "kind": parsed.kind.upper(),
        "ignored_columns": parsed.ignored_columns,
        "result": result,
    }
