"""One FilterSet per list, shared by the HTML lists, exports and the API.

Choice querysets are scoped to the requesting user, so a relationship or accreditation
the user may not see is "not one of the available choices" — the same answer as for
one that does not exist.
"""

from __future__ import annotations

import re
from typing import Any

import django_filters
from django.contrib.postgres.search import SearchQuery
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django_countries import countries

from cooperation.choices import (
    AccreditationKind,
    AccreditationStatus,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    Classification,
)
from cooperation.models import Accreditation, Activity, Attache, CooperationArea, Post, Relationship

CLASSIFICATION_CODES = [(member.code, member.label) for member in Classification]
_WORD = re.compile(r"\w+", re.UNICODE)


def _user(request: HttpRequest | None) -> Any:
    return getattr(request, "user", None)


def visible_relationships(request: HttpRequest | None) -> QuerySet[Relationship]:
    return Relationship.objects.visible_to(_user(request))


def visible_accreditations(request: HttpRequest | None) -> QuerySet[Accreditation]:
    return Accreditation.objects.visible_to(_user(request))


def search_query(text: str) -> SearchQuery | None:
    """Every word must match, the last one as a prefix (search as you type)."""
    words = _WORD.findall(text.lower())[:20]
    if not words:
        return None
    terms = [f"{word}:*" if index == len(words) - 1 else word for index, word in enumerate(words)]
    return SearchQuery(" & ".join(terms), search_type="raw", config="simple")


class NumberInFilter(django_filters.BaseInFilter, django_filters.NumberFilter):
    pass


class ActivityFilterSet(django_filters.FilterSet):
    area = django_filters.ModelMultipleChoiceFilter(
        field_name="area__code", to_field_name="code", queryset=CooperationArea.objects.all(), label="Area"
    )
    relationship = django_filters.ModelMultipleChoiceFilter(queryset=visible_relationships, label="Relationship")
    country = django_filters.ChoiceFilter(
        choices=countries, method="filter_country", label="Partner country (either side)"
    )
    status = django_filters.MultipleChoiceFilter(choices=ActivityStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=ActivityKind.choices)
    level = django_filters.MultipleChoiceFilter(choices=ActivityLevel.choices)
    releasability = django_filters.MultipleChoiceFilter(
        choices=CLASSIFICATION_CODES, method="filter_releasability", label="Releasability"
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
    created_at = django_filters.IsoDateTimeFromToRangeFilter(label="Created between")
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt", label="Changed after")
    id = NumberInFilter(field_name="id", label="Ids (comma separated)")

    class Meta:
        model = Activity
        fields: list[str] = []

    def filter_country(self, queryset: QuerySet[Activity], name: str, value: str) -> QuerySet[Activity]:
        return queryset.filter(Q(relationship__state_a=value) | Q(relationship__state_b=value))

    def filter_releasability(self, queryset: QuerySet[Activity], name: str, value: list[str]) -> QuerySet[Activity]:
        return queryset.filter(releasability__in=[Classification.from_code(code) for code in value])

    def filter_q(self, queryset: QuerySet[Activity], name: str, value: str) -> QuerySet[Activity]:
        query = search_query(value)
        return queryset if query is None else queryset.filter(search_vector=query)


class AccreditationFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AccreditationStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=AccreditationKind.choices)
    host_country = django_filters.ChoiceFilter(choices=countries, label="Host country")
    relationship = django_filters.ModelMultipleChoiceFilter(queryset=visible_relationships, label="Relationship")
    attache = django_filters.ModelChoiceFilter(queryset=Attache.objects.all(), label="Attaché")
    post = django_filters.ModelChoiceFilter(queryset=Post.objects.all(), label="Post")
    releasability = django_filters.MultipleChoiceFilter(
        choices=CLASSIFICATION_CODES, method="filter_releasability", label="Releasability"
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
    created_at = django_filters.IsoDateTimeFromToRangeFilter(label="Created between")
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt", label="Changed after")
    id = NumberInFilter(field_name="id", label="Ids (comma separated)")

    class Meta:
        model = Accreditation
        fields: list[str] = []

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
