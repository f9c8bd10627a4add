"""Managers' dashboards: the overview, one relationship over time, and the comparison.

Who may see them is the workspace's rule (`WorkspaceAccess`): managers, admins and desk
officers (their own desks' figures); API clients get 403. Figures come from
`cooperation.dashboard_selectors`, drawing from `cooperation.dashboards`; each chart's
numbers are also a table on the page and a CSV download with the same parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views import View

from cooperation import dashboards
from cooperation.choices import PIPELINE_STATUSES
from cooperation.dashboard_forms import ComparisonForm, DashboardForm, OverviewForm, RangeForm
from cooperation.dashboard_selectors import accreditation_periods, compare_periods, overview, weight_set_named
from cooperation.exporters import csv_stream
from cooperation.intensity import Granularity
from cooperation.intensity_selectors import (
    IntensitySeries,
    intensity_by_relationship,
    intensity_extent,
    intensity_series,
)
from cooperation.models import Relationship
from cooperation.views.access import WorkspaceAccess


def csv_response(filename: str, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_stream(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def invalid_csv(form: DashboardForm) -> HttpResponse:
    lines = [f"{name}: {' '.join(str(error) for error in errors)}" for name, errors in form.errors.items()]
    return HttpResponse(
        "The download was refused:\n" + "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8"
    )


class DashboardView(WorkspaceAccess, View):
    def today(self) -> Any:
        return timezone.localdate()

    def relationship_series(
        self, request: HttpRequest, relationship: Relationship, today: Any
    ) -> tuple[RangeForm, IntensitySeries | None]:
        """The range form of a relationship's dashboard and, when it is valid, its series
        (the page and its CSV read the same figures), up to `today`."""
        form = RangeForm(
            request.GET,
            today=today,
            extent=intensity_extent(user=request.user, relationships=[relationship.pk]),  # type: ignore[arg-type]
        )
        if not form.is_valid():
            return form, None
        data = form.cleaned_data
        series = intensity_series(
            user=request.user,  # type: ignore[arg-type]
            start=data["start"],
            end=data["end"],
            granularity=data["granularity"],
            relationships=[relationship.pk],
        )
        return form, series

    def visible_relationship(self, pk: int) -> Relationship:
        return get_object_or_404(Relationship.objects.visible_to(self.request.user), pk=pk)  # type: ignore[arg-type]


# Overview ------------------------------------------------------------------------------


class OverviewView(DashboardView):
    def get(self, request: HttpRequest) -> HttpResponse:
        form = OverviewForm(request.GET, today=self.today())
        if not form.is_valid():
            return render(request, "dashboards/overview.html", {"form": form}, status=400)
        figures = overview(user=request.user, as_of=form.cleaned_data["as_of"])  # type: ignore[arg-type]
        cards = dashboards.overview_cards(figures)
        return render(
            request,
            "dashboards/overview.html",
            {
                "form": form,
                "overview": figures,
                "weight_set": weight_set_named(figures.weight_set_id),
                "quarter_label": figures.quarter_label,
                "cards": cards,
                "table": sorted(cards, key=lambda view: view.card.label),
                "query": request.GET.urlencode(),
                "upcoming_url": dashboards.activity_list_url(start=figures.as_of, end=None, statuses=PIPELINE_STATUSES),
            },
        )


class OverviewCsvView(DashboardView):
    def get(self, request: HttpRequest) -> HttpResponseBase:
        form = OverviewForm(request.GET, today=self.today())
        if not form.is_valid():
            return invalid_csv(form)
        figures = overview(user=request.user, as_of=form.cleaned_data["as_of"], upcoming_limit=0)  # type: ignore[arg-type]
        return csv_response(
            f"overview-{figures.as_of:%Y%m%d}.csv",
            dashboards.overview_columns(figures),
            dashboards.overview_rows(figures),
        )


# One relationship ----------------------------------------------------------------------


class RelationshipDashboardView(DashboardView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        relationship = self.visible_relationship(pk)
        user = request.user
        today = self.today()  # read once: the chart's range and the timeline end on the same day
        form, series = self.relationship_series(request, relationship, today)
        context: dict[str, Any] = {"relationship": relationship, "form": form}
        if series is None:
            return render(request, "dashboards/relationship.html", context, status=400)
        data = form.cleaned_data
        periods = accreditation_periods(user=user, relationship=relationship, today=today)  # type: ignore[arg-type]
        context |= {
            "series": series,
            "weight_set": weight_set_named(series.weight_set_id),
            "chart": dashboards.relationship_chart(series, relationship.pk),
            "table": dashboards.series_table(series, relationship.pk),
            "periods": [
                {
                    "period": period,
                    "url": dashboards.activity_list_url(
                        start=period.first_month, end=period.last_day, relationship_id=relationship.pk
                    ),
                }
                for period in periods
            ],
            "timeline": dashboards.timeline_bars(periods, series.periods, series.granularity, today),
            "ticks": dashboards.axis_ticks(series.periods),
            "granularities": Granularity.choices,
            "range_query": {"start": data["start"].isoformat(), "end": data["end"].isoformat()},
            "query": request.GET.urlencode(),
        }
        return render(request, "dashboards/relationship.html", context)


class RelationshipCsvView(DashboardView):
    """The chart's numbers (`what="series"`) or the accreditation periods (`what="periods"`)."""

    def get(self, request: HttpRequest, pk: int, what: str) -> HttpResponseBase:
        relationship = self.visible_relationship(pk)
        user = request.user
        slug = "-".join(relationship.label.lower().replace("–", " ").split())
        if what == "periods":
            periods = accreditation_periods(user=user, relationship=relationship, today=self.today())  # type: ignore[arg-type]
            return csv_response(
                f"accreditations-{slug}.csv", dashboards.PERIOD_COLUMNS, dashboards.accreditation_period_rows(periods)
            )
        form, series = self.relationship_series(request, relationship, self.today())
        if series is None:
            return invalid_csv(form)
        return csv_response(
            f"intensity-{slug}-{series.granularity}.csv", dashboards.SERIES_COLUMNS, dashboards.series_rows(series)
        )


# Comparison ----------------------------------------------------------------------------


class ComparisonView(DashboardView):
    def get(self, request: HttpRequest) -> HttpResponse:
        form = ComparisonForm(request.GET, today=self.today())
        if not form.is_valid():
            return render(request, "dashboards/comparison.html", {"form": form}, status=400)
        data = form.cleaned_data
        user = request.user
        grid = intensity_by_relationship(
            user=user,  # type: ignore[arg-type]
            start=data["start"],
            end=data["end"],
            granularity=data["granularity"],
        )
        heat_rows, legend = dashboards.heatmap_rows(grid)
        comparison = compare_periods(user=user, granularity=data["granularity"], a=data["a"], b=data["b"])  # type: ignore[arg-type]
        rows = [
            {
                "row": row,
                "a_url": dashboards.point_url(row.a, comparison.granularity, relationship_id=row.relationship_id),
                "b_url": dashboards.point_url(row.b, comparison.granularity, relationship_id=row.relationship_id),
            }
            for row in comparison.rows
        ]
        chart = dashboards.comparison_chart(comparison)
        return render(
            request,
            "dashboards/comparison.html",
            {
                "form": form,
                "grid": grid,
                "weight_set": weight_set_named(grid.weight_set_id),
                "heat_rows": heat_rows,
                "legend": legend,
                "comparison": comparison,
                "rows": rows,
                "chart": chart,
                "chart_height": 8 + 2.2 * len(chart["labels"]),
                "query": request.GET.urlencode(),
            },
        )


class ComparisonCsvView(DashboardView):
    """The heatmap's numbers (`what="heatmap"`) or the two periods (`what="periods"`)."""

    def get(self, request: HttpRequest, what: str) -> HttpResponseBase:
        form = ComparisonForm(request.GET, today=self.today())
        if not form.is_valid():
            return invalid_csv(form)
        data = form.cleaned_data
        user = request.user
        if what == "heatmap":
            grid = intensity_by_relationship(
                user=user,  # type: ignore[arg-type]
                start=data["start"],
                end=data["end"],
                granularity=data["granularity"],
            )
            return csv_response(
                f"heatmap-{grid.granularity}.csv", dashboards.HEATMAP_COLUMNS, dashboards.heatmap_csv_rows(grid)
            )
        comparison = compare_periods(user=user, granularity=data["granularity"], a=data["a"], b=data["b"])  # type: ignore[arg-type]
        return csv_response(
            f"comparison-{comparison.a_label}-{comparison.b_label}.csv".replace(" ", ""),
            dashboards.comparison_columns(comparison),
            dashboards.comparison_rows(comparison),
        )
