"""URLs of the HTML workspace (namespace `workspace`). Every page here is in the
role × desk × clearance matrix of tests/web/test_access_matrix.py."""

from __future__ import annotations

from django.urls import path

from cooperation.forms import ACCREDITATION_STEP_SERVICES
from cooperation.views import accreditations, activities, imports

app_name = "workspace"

urlpatterns = [
    path("activities/", activities.ActivityListView.as_view(), name="activity_list"),
    path("activities/new/", activities.ActivityCreateView.as_view(), name="activity_create"),
    path("activities/deleted/", activities.DeletedActivityListView.as_view(), name="activity_deleted"),
    path("activities/export.csv", activities.ActivityExportView.as_view(), {"fmt": "csv"}, name="activity_export_csv"),
    path(
        "activities/export.xlsx", activities.ActivityExportView.as_view(), {"fmt": "xlsx"}, name="activity_export_xlsx"
    ),
    path("activities/import/", imports.ImportView.as_view(), name="activity_import"),
    path("activities/import/commit/", imports.ImportCommitView.as_view(), name="activity_import_commit"),
    path(
        "activities/import/template.csv",
        imports.ImportTemplateView.as_view(),
        {"fmt": "csv"},
        name="activity_import_template_csv",
    ),
    path(
        "activities/import/template.xlsx",
        imports.ImportTemplateView.as_view(),
        {"fmt": "xlsx"},
        name="activity_import_template_xlsx",
    ),
    path("activities/<int:pk>/", activities.ActivityDetailView.as_view(), name="activity_detail"),
    path("activities/<int:pk>/edit/", activities.ActivityEditView.as_view(), name="activity_edit"),
    path("activities/<int:pk>/duplicate/", activities.ActivityDuplicateView.as_view(), name="activity_duplicate"),
    path("activities/<int:pk>/cancel/", activities.ActivityActionView.as_view(action="cancel"), name="activity_cancel"),
    path("activities/<int:pk>/delete/", activities.ActivityActionView.as_view(action="delete"), name="activity_delete"),
    path(
        "activities/<int:pk>/restore/",
        activities.ActivityActionView.as_view(action="restore"),
        name="activity_restore",
    ),
    path("accreditations/", accreditations.AccreditationListView.as_view(), name="accreditation_list"),
    path("accreditations/new/", accreditations.AccreditationCreateView.as_view(), name="accreditation_create"),
    path("accreditations/<int:pk>/", accreditations.AccreditationDetailView.as_view(), name="accreditation_detail"),
    path("accreditations/<int:pk>/edit/", accreditations.AccreditationEditView.as_view(), name="accreditation_edit"),
    *(
        path(
            f"accreditations/<int:pk>/{action}/",
            accreditations.AccreditationStepView.as_view(),
            {"action": action},
            name=f"accreditation_{action}",
        )
        for action in ACCREDITATION_STEP_SERVICES
    ),
    path("attaches/<int:pk>/", accreditations.AttacheDetailView.as_view(), name="attache_detail"),
]
