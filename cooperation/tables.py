"""Tables of the HTML lists (django-tables2): columns, sorting and pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from cooperation.back import keeping_back
from cooperation.models import Accreditation, Activity

# The page sizes a list offers; the first is the default.
PER_PAGE_CHOICES = (25, 50, 100)


class ListTable(tables.Table):
    """A list whose row links carry the list's query (`back`, cooperation/back.py), so the
    record's pages lead back to the list as the user left it. Only the list itself passes
    `back`: other tables of the same records (the deleted activities) link plainly."""

    def __init__(self, *args: Any, back: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.back = back

    def paginate(self, *args: Any, per_page: int | None = None, **kwargs: Any) -> ListTable:
        """Only the page sizes the list offers: django-tables2's RequestConfig takes any
        `per_page` from the URL (`?per_page=1000000` would render every row at once)."""
        chosen = per_page if per_page in PER_PAGE_CHOICES else PER_PAGE_CHOICES[0]
        return super().paginate(*args, per_page=chosen, **kwargs)


def row_link(view_name: str, pk: str = "pk") -> Callable[..., str]:
    """`linkify` for a column of a ListTable: the record's page, passing on the list's query."""

    def url(record: Any, table: ListTable) -> str:
        return keeping_back(reverse(view_name, args=[getattr(record, pk)]), table.back)

    return url


class ActivityTable(ListTable):
    """Every sort ends with the id, so pages never overlap or skip a row."""

    start_date = tables.DateColumn(format="Y-m-d", verbose_name="Start", order_by=("start_date", "id"))
    title = tables.Column(linkify=row_link("workspace:activity_detail"), order_by=("title", "id"))
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
        # The list boosts its sorting and paging links (they swap the results only); a row's
        # link opens the record's own page, which has no results to swap.
        row_attrs = {"hx-boost": "false"}
        empty_text = "No activity matches these filters."

    def render_status(self, record: Activity, value: Any) -> str:
        return format_html('<span class="badge status-{}">{}</span>', record.status, value)


class AccreditationTable(ListTable):
    attache = tables.Column(
        verbose_name="Attaché",
        linkify=row_link("workspace:attache_detail", "attache_id"),
        order_by=("attache__name", "id"),
    )
    host_country = tables.Column(verbose_name="Host country", order_by=("host_country", "id"))
    post = tables.Column(order_by=("post__name", "id"))
    kind = tables.Column(order_by=("kind", "id"))
    status = tables.Column(linkify=row_link("workspace:accreditation_detail"), order_by=("status", "id"))
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
