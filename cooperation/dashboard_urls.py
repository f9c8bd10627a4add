"""URLs of the managers' dashboards (namespace `dashboards`, under /dashboard/). Every page
here is in the role × desk × clearance matrix of tests/web/test_dashboard_access.py."""

from __future__ import annotations

from django.urls import path

from cooperation.views import dashboards

app_name = "dashboards"

urlpatterns = [
    path("", dashboards.OverviewView.as_view(), name="overview"),
    path("overview.csv", dashboards.OverviewCsvView.as_view(), name="overview_csv"),
    path("relationships/<int:pk>/", dashboards.RelationshipDashboardView.as_view(), name="relationship"),
    path(
        "relationships/<int:pk>/intensity.csv",
        dashboards.RelationshipCsvView.as_view(),
        {"what": "series"},
        name="relationship_csv",
    ),
    path(
        "relationships/<int:pk>/accreditations.csv",
        dashboards.RelationshipCsvView.as_view(),
        {"what": "periods"},
        name="relationship_periods_csv",
    ),
    path("comparison/", dashboards.ComparisonView.as_view(), name="comparison"),
    path("comparison/heatmap.csv", dashboards.ComparisonCsvView.as_view(), {"what": "heatmap"}, name="heatmap_csv"),
    path("comparison/periods.csv", dashboards.ComparisonCsvView.as_view(), {"what": "periods"}, name="comparison_csv"),
]
