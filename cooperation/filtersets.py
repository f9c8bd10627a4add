"""One FilterSet per list, shared by the HTML lists, exports and the API.

Choice querysets are scoped to the requesting user, so a relationship or accreditation
the user may not see is "not one of the available choices" — the same answer as for
one that does not exist.
"""

from __future__ import annotations

import datetime
import functools
import re
from typing import Any

import django_filters
from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import BooleanField, F, Func, Q, QuerySet, Subquery
from django.http import HttpRequest
from django_countries import countries
from django_filters.fields import IsoDateTimeField, ModelMultipleChoiceField, RangeField
from django_filters.widgets import DateRangeWidget
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from attache import prepared_statements
from cooperation.choices import (
    AccreditationKind,
    AccreditationStatus,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    Classification,
    Service,
)
from cooperation.models import Accreditation, Activity, Attache, CooperationArea, Desk, Post, Relationship

CLASSIFICATION_CODES = [(member.code, member.label) for member in Classification]
_WORD = re.compile(r"\w+", re.UNICODE)


def _user(request: HttpRequest | None) -> Any:
    return getattr(request, "user", None)


def visible_relationships(request: HttpRequest | None) -> QuerySet[Relationship]:
    return Relationship.objects.visible_to(_user(request))


def visible_accreditations(request: HttpRequest | None) -> QuerySet[Accreditation]:
    return Accreditation.objects.visible_to(_user(request))


# A search matching fewer activities than this reads them through the text index and
# sorts them; one matching more walks the list's order and stops once the page is full.
# PostgreSQL cannot tell the two apart for a prefix ('word:*' is assumed to match about
# 2 % of the table whatever the word), and for a rare word it chose the walk: two seconds
# over a million activities to find five. Counting up to this many matches through the
# text index costs 2 ms for a rare word and about 30 ms for a common one.
FEW_SEARCH_MATCHES = 2000


class EqualsAnyOf(Func):
    """`expression = ANY(ARRAY(subquery))`: the same rows as `IN (subquery)`, but PostgreSQL
    computes the subquery once, first, and looks the rows up by key."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        expression, subquery = self.get_source_expressions()
        left, left_params = compiler.compile(expression)
        right, right_params = compiler.compile(subquery)
        return f"{left} = ANY(ARRAY{right})", [*left_params, *right_params]


def search_query(text: str) -> SearchQuery | None:
    """Every word must match, the last one as a prefix (search as you type)."""
    words = _WORD.findall(text.lower())[:20]
    if not words:
        return None
    terms = [f"{word}:*" if index == len(words) - 1 else word for index, word in enumerate(words)]
    return SearchQuery(" & ".join(terms), search_type="raw", config="simple")


class CodeMultipleChoiceField(ModelMultipleChoiceField):
    """Codes (`to_field_name`) of rows of the queryset → those rows' ids.

    Django's field builds a queryset per value to check its type and returns model
    instances; a code is text and only the ids are needed, read in one small query.
    """

    def _check_values(self, value: Any) -> list[Any]:
        key = self.to_field_name or "pk"
        try:
            codes = list(dict.fromkeys(str(code) for code in value))
        except TypeError:
            raise ValidationError(self.error_messages["invalid_list"], code="invalid_list") from None
        for code in codes:
            self.validate_no_null_characters(code)
        found = dict(self._ids_by_key(key, codes))
        for code in codes:
            if code not in found:
                raise ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": code}
                )
        return [found[code] for code in codes]

    def _ids_by_key(self, key: str, codes: list[str]) -> Any:
        """(code, id) of the rows of the queryset with those codes. For a whole table (the
        usual queryset) one statement written once from the model's columns and prepared,
        which costs a tenth of the Python of building and compiling the ORM's query."""
        queryset, query = self.queryset, self.queryset.query
        if query.where or query.is_sliced or query.combinator or query.extra or query.annotations:
            return queryset.order_by().filter(**{f"{key}__in": codes}).values_list(key, "pk")
        with connections[queryset.db].cursor() as cursor:
            prepared_statements.execute(cursor, _lookup_sql(queryset.model, key, queryset.db), [codes])
            return cursor.fetchall()


@functools.cache
def _lookup_sql(model: type[models.Model], key: str, alias: str) -> str:
    """`SELECT key, pk FROM table WHERE key = ANY(%s)`, quoted for the database `alias`."""
    quote = connections[alias].ops.quote_name
    meta = model._meta
    column, pk, table = str(meta.get_field(key).column), str(meta.pk.column), meta.db_table  # type: ignore[union-attr]
    return f"SELECT {quote(column)}, {quote(pk)} FROM {quote(table)} WHERE {quote(column)} = ANY(%s)"  # noqa: S608 - names from the model


@extend_schema_field(OpenApiTypes.STR)
class CodeMultipleChoiceFilter(django_filters.ModelMultipleChoiceFilter):
    """Records by the code of a related row (e.g. area=education), repeatable.

    The codes are looked up when the form validates; the filter then compares the foreign
    key with those rows' ids, so PostgreSQL filters while it scans the records' index
    instead of after a join.
    """

    field_class = CodeMultipleChoiceField

    def get_filter_predicate(self, v: Any) -> dict[str, Any]:
        return {self.field_name: v}


class NumberInFilter(django_filters.BaseInFilter, django_filters.NumberFilter):
    pass


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, converted to UTC here, so that an offset PostgreSQL would not
    accept (beyond ±15:59) or a moment outside the calendar is a clear 400, not a 500."""

    def to_python(self, value: Any) -> datetime.datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(datetime.UTC)
        except (OverflowError, ValueError):
            raise ValidationError("This date and time is out of range.", code="invalid") from None


class UtcIsoDateTimeRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__((UtcIsoDateTimeField(), UtcIsoDateTimeField()), *args, **kwargs)


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class MomentRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    field_class = UtcIsoDateTimeRangeField


class ActivityFilterSet(django_filters.FilterSet):
    # distinct=False throughout: every filter follows a single-valued relation, so no row can
    # repeat, and a DISTINCT would stop PostgreSQL from reading the pages off an index.
    area = CodeMultipleChoiceFilter(
        field_name="area",
        to_field_name="code",
        queryset=CooperationArea.objects.all(),
        label="Area",
        distinct=False,
    )
    relationship = django_filters.ModelMultipleChoiceFilter(
        queryset=visible_relationships, label="Relationship", distinct=False
    )
    country = django_filters.ChoiceFilter(
        choices=countries, method="filter_country", label="Partner country (either side)"
    )
    status = django_filters.MultipleChoiceFilter(choices=ActivityStatus.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=ActivityKind.choices, distinct=False)
    level = django_filters.MultipleChoiceFilter(choices=ActivityLevel.choices, distinct=False)
    releasability = django_filters.MultipleChoiceFilter(
        choices=CLASSIFICATION_CODES, method="filter_releasability", label="Releasability", distinct=False
    )
    start_date = django_filters.DateFromToRangeFilter(label="Start date between")
    end_date = django_filters.DateFromToRangeFilter(label="End date between")
    participants = django_filters.RangeFilter(label="Participants between")
    q = django_filters.CharFilter(method="filter_q", label="Search", max_length=200)
    accreditation = django_filters.ModelChoiceFilter(queryset=visible_accreditations, label="Accreditation")
    attache = django_filters.ModelChoiceFilter(
        field_name="accreditation__attache", queryset=Attache.objects.all(), label="Attaché"
    )
    external_ref = django_filters.CharFilter(label="External reference")
    created_by = django_filters.NumberFilter(field_name="created_by_id", label="Created by (user id)")
    updated_by = django_filters.NumberFilter(field_name="updated_by_id", label="Updated by (user id)")
    created_at = MomentRangeFilter(label="Created between")
    updated_since = MomentFilter(field_name="updated_at", lookup_expr="gt", label="Changed after")
    id = NumberInFilter(field_name="id", label="Ids (comma separated)")

    # The methods that filter by their value alone (cooperation/api/base.py `filter_terms`):
    # not filter_q, which counts the matches first.
    methods_of_values_only = ("filter_country", "filter_releasability")

    class Meta:
        model = Activity
        fields: list[str] = []

    def filter_country(self, queryset: QuerySet[Activity], name: str, value: str) -> QuerySet[Activity]:
        return queryset.filter(Q(relationship__state_a=value) | Q(relationship__state_b=value))

    def filter_releasability(self, queryset: QuerySet[Activity], name: str, value: list[str]) -> QuerySet[Activity]:
        return queryset.filter(releasability__in=[Classification.from_code(code) for code in value])

    def filter_q(self, queryset: QuerySet[Activity], name: str, value: str) -> QuerySet[Activity]:
        query = search_query(value)
        if query is None:
            return queryset
        matches = Activity.objects.filter(search_vector=query).order_by()
        if matches[:FEW_SEARCH_MATCHES].count() < FEW_SEARCH_MATCHES:
            # The same condition, written so that the plan starts from the few matches.
            return queryset.filter(EqualsAnyOf(F("pk"), Subquery(matches.values("pk"))))
        return queryset.filter(search_vector=query)


def visible_desks(request: HttpRequest | None) -> QuerySet[Desk]:
    return Desk.objects.visible_to(_user(request))


def _either_side(queryset: QuerySet[Any], prefix: str, value: str) -> QuerySet[Any]:
    return queryset.filter(Q(**{f"{prefix}state_a": value}) | Q(**{f"{prefix}state_b": value}))


class PostFilterSet(django_filters.FilterSet):
    sending_country = django_filters.ChoiceFilter(choices=countries)
    host_country = django_filters.ChoiceFilter(choices=countries)
    city = django_filters.CharFilter(lookup_expr="iexact")
    q = django_filters.CharFilter(method="filter_q", label="Name or city contains", max_length=200)

    class Meta:
        model = Post
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Post], name: str, value: str) -> QuerySet[Post]:
        return queryset.filter(Q(name__icontains=value) | Q(city__icontains=value))


class AttacheFilterSet(django_filters.FilterSet):
    sending_country = django_filters.ChoiceFilter(choices=countries)
    service = django_filters.MultipleChoiceFilter(choices=Service.choices, distinct=False)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains", max_length=200)

    class Meta:
        model = Attache
        fields: list[str] = []


class AccreditationFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AccreditationStatus.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=AccreditationKind.choices, distinct=False)
    host_country = django_filters.ChoiceFilter(choices=countries, label="Host country")
    relationship = django_filters.ModelMultipleChoiceFilter(
        queryset=visible_relationships, label="Relationship", distinct=False
    )
    country = django_filters.ChoiceFilter(
        choices=countries, method="filter_country", label="Partner country (either side)"
    )
    attache = django_filters.ModelChoiceFilter(queryset=Attache.objects.all(), label="Attaché")
    post = django_filters.ModelChoiceFilter(queryset=Post.objects.all(), label="Post")
    releasability = django_filters.MultipleChoiceFilter(
        choices=CLASSIFICATION_CODES, method="filter_releasability", label="Releasability", distinct=False
    )
    requested_on = django_filters.DateFromToRangeFilter(label="Requested between")
    agrement_on = django_filters.DateFromToRangeFilter(label="Agrément granted between")
    accredited_on = django_filters.DateFromToRangeFilter(label="Accredited between")
    ended_on = django_filters.DateFromToRangeFilter(label="Ended between")
    refused_on = django_filters.DateFromToRangeFilter(label="Refused between")
    withdrawn_on = django_filters.DateFromToRangeFilter(label="Withdrawn between")
    q = django_filters.CharFilter(method="filter_q", label="Search", max_length=200)
    created_by = django_filters.NumberFilter(field_name="created_by_id", label="Created by (user id)")
    updated_by = django_filters.NumberFilter(field_name="updated_by_id", label="Updated by (user id)")
    created_at = MomentRangeFilter(label="Created between")
    updated_since = MomentFilter(field_name="updated_at", lookup_expr="gt", label="Changed after")
    id = NumberInFilter(field_name="id", label="Ids (comma separated)")

    class Meta:
        model = Accreditation
        fields: list[str] = []

    def filter_country(self, queryset: QuerySet[Accreditation], name: str, value: str) -> QuerySet[Accreditation]:
        return _either_side(queryset, "relationship__", value)

    def filter_releasability(
        self, queryset: QuerySet[Accreditation], name: str, value: list[str]
    ) -> QuerySet[Accreditation]:
        return queryset.filter(releasability__in=[Classification.from_code(code) for code in value])

    def filter_q(self, queryset: QuerySet[Accreditation], name: str, value: str) -> QuerySet[Accreditation]:
        """Every word must appear in the attaché's name, rank, the post or the notes."""
        for word in _WORD.findall(value)[:10]:
            queryset = queryset.filter(
                Q(attache__name__icontains=word)
                | Q(attache__rank__icontains=word)
                | Q(post__name__icontains=word)
                | Q(notes__icontains=word)
            )
        return queryset


class RelationshipFilterSet(django_filters.FilterSet):
    country = django_filters.ChoiceFilter(choices=countries, method="filter_country", label="Either state")
    desk = django_filters.ModelChoiceFilter(queryset=visible_desks, field_name="desks", label="Desk")

    class Meta:
        model = Relationship
        fields: list[str] = []

    def filter_country(self, queryset: QuerySet[Relationship], name: str, value: str) -> QuerySet[Relationship]:
        return _either_side(queryset, "", value)


class CooperationAreaFilterSet(django_filters.FilterSet):
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = CooperationArea
        fields: list[str] = []


class DeskFilterSet(django_filters.FilterSet):
    relationship = django_filters.ModelChoiceFilter(
        queryset=visible_relationships, field_name="relationships", label="Covers relationship"
    )
    country = django_filters.ChoiceFilter(choices=countries, method="filter_country", label="Covers a state")

    class Meta:
        model = Desk
        fields: list[str] = []

    def filter_country(self, queryset: QuerySet[Desk], name: str, value: str) -> QuerySet[Desk]:
        return _either_side(queryset, "relationships__", value).distinct()
