"""Tables of the HTML lists (django-tables2): columns, sorting and pagination."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.utils.html import format_html
from django_tables2 import A

from cooperation.models import Accreditation, Activity


class ActivityTable(tables.Table):
    """Every sort ends with the id, so pages never overlap or skip a row."""

    start_date = tables.DateColumn(format="Y-m-d", verbose_name="Start", order_by=("start_date", "id"))
    title = tables.Column(linkify=("workspace:activity_detail", {"pk": A("pk")}), order_by=("title", "id"))
    relationship = tables.Column(order_by=("relationship__state_a", "relationship__state_b", "id"))
    area = tables.Column(order_by=("area__position", "area__name", "id"))
    kind = tables.Column(order_by=("kind", "id"))
    level = tables.Column(order_by=("level", "id"))
    status = tables.Column(order_by=("status", "id"))
    participants = tables.Column(
        attrs={"td": {"class": "num"}, "th": {"class": "num"}}, order_by=("participants", "id")
    )
    releasability = tables.Column(verbose_name="Releasability", order_by=("releasability", "id"))

    class Meta:
        model = Activity
        fields = (
            "start_date",
            "title",
            "relationship",
            "area",
            "kind",
            "level",
            "status",
            "participants",
            "releasability",
        )
        order_by = ("-start_date",)
        template_name = "django_tables2/bootstrap5-responsive.html"
        attrs = {"class": "table table-sm table-hover align-middle table-numbers", "id": "activity-table"}
        empty_text = "No activity matches these filters."

    def render_status(self, record: Activity, value: Any) -> str:
        return format_html('<span class="badge status-{}">{}</span>', record.status, value)


class AccreditationTable(tables.Table):
    attache = tables.Column(
        verbose_name="Attaché",
        linkify=("workspace:attache_detail", {"pk": A("attache_id")}),
        order_by=("attache__name", "id"),
    )
    host_country = tables.Column(verbose_name="Host country", order_by=("host_country", "id"))
    post = tables.Column(order_by=("post__name", "id"))
    kind = tables.Column(order_by=("kind", "id"))
    status = tables.Column(linkify=("workspace:accreditation_detail", {"pk": A("pk")}), order_by=("status", "id"))
    requested_on = tables.DateColumn(format="Y-m-d", order_by=("requested_on", "id"))
    accredited_on = tables.DateColumn(format="Y-m-d", order_by=("accredited_on", "id"))
    ended_on = tables.DateColumn(format="Y-m-d", order_by=("ended_on", "id"))

    class Meta:
        model = Accreditation
        fields = ("attache", "host_country", "post", "kind", "status", "requested_on", "accredited_on", "ended_on")
        order_by = ("-requested_on",)
        template_name = "django_tables2/bootstrap5-responsive.html"
        attrs = {"class": "table table-sm table-hover align-middle", "id": "accreditation-table"}
        empty_text = "No accreditation matches these filters."
