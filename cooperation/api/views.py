"""REST API v1 viewsets: thin. Scoping comes from `visible_to`, filters from the shared
FilterSets, writes from the services (through the serializers)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cooperation import services
from cooperation.api import csv, json_rows
from cooperation.api.base import ApiViewSet, check_present_not_empty
from cooperation.api.conditional import expected_version, idempotency_key
from cooperation.api.errors import etag_for
from cooperation.api.pagination import decode_cursor
from cooperation.api.schema import ALREADY_CREATED, IDEMPOTENCY_KEY
from cooperation.api.serializers import (
    AccreditationSerializer,
    ActivitySerializer,
    ActivityTombstoneSerializer,
    AttacheSerializer,
    CooperationAreaSerializer,
    DeskSerializer,
    PostSerializer,
    RelationshipSerializer,
)
from cooperation.choices import Classification
from cooperation.filtersets import (
    AccreditationFilterSet,
    ActivityFilterSet,
    AttacheFilterSet,
    CooperationAreaFilterSet,
    DeskFilterSet,
    PostFilterSet,
    RelationshipFilterSet,
)
from cooperation.models import Accreditation, Activity, Attache, CooperationArea, Desk, Post, Relationship
from cooperation.models.visibility import visibility_terms
from cooperation.sync import activity_feed, clock

STAMP = serializers.DateTimeField()
RELEASABILITY = {int(member): member.code for member in Classification}


def pair_label(state_a: str, state_b: str) -> str:
    return Relationship(state_a=state_a, state_b=state_b).label


def relationship_labels(user: Any) -> dict[int, str]:
    return {relationship.pk: relationship.label for relationship in Relationship.objects.visible_to(user)}


ACTIVITY_LIST_DOC = """Activities you may see, newest first by default.

With `updated_since` the list is an incremental sync: every change committed after that
moment, in commit order, deletions (and records that left your view or your filters) as
`{"id", "deleted": true, "updated_at"}` — for records you may hold: visible to you at
`updated_since` or sent earlier in the same walk (a first sync holds none). Follow `next` to
the end, then resume with `updated_since` = the last `updated_at` you received: nothing is
missed or sent twice."""


def already_created(activity: Activity, changed_fields: list[str]) -> Response:
    if changed_fields:
        detail = (
            f"This Idempotency-Key already created activity {activity.pk}, from another body "
            f"(differing: {', '.join(changed_fields)}). Nothing was written: send a fresh key to create another."
        )
    else:
        detail = (
            f"This Idempotency-Key created activity {activity.pk}, which has been deleted since. "
            "Nothing was written: send a fresh key to create it again."
        )
    return Response(
        {"detail": detail, "id": activity.pk, "changed_fields": changed_fields},
        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


@extend_schema_view(
    list=extend_schema(
        description=ACTIVITY_LIST_DOC,
        responses=PolymorphicProxySerializer(
            component_name="ActivityOrTombstone",
            serializers=[ActivitySerializer, ActivityTombstoneSerializer],
            resource_type_field_name=None,
            many=True,
        ),
    ),
    create=extend_schema(
        description=(
            "Record an activity on one of your desks, up to your clearance. Send `Idempotency-Key` to make "
            "a retry safe: the same key again answers 201 with the activity it created, not a second one."
        ),
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: ActivitySerializer,
            422: OpenApiResponse(
                ALREADY_CREATED,
                description=(
                    "This Idempotency-Key already created activity `id` from another body (`changed_fields`), "
                    "or that activity was deleted since; nothing was written. Use a fresh key for a new activity."
                ),
            ),
        },
    ),
    update=extend_schema(description="Replace an activity; needs If-Match (or `version`)."),
    partial_update=extend_schema(description="Change some fields; needs If-Match (or `version`)."),
    destroy=extend_schema(description="Delete (softly: it stays in the history); needs If-Match (or `version`)."),
)
class ActivityViewSet(ApiViewSet):
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilterSet
    filter_params_handled_by_view = ("updated_since",)
    orderings = {"start_date": ("start_date",), "updated_at": ("change__changed_at",)}
    default_ordering = "-start_date"
    lookup_value_regex = r"[0-9]+"
    csv_filename = "activities"
    csv_columns = [
        csv.Column("id", "id", "number"),
        csv.Column("relationship", "relationship_id", "number"),
        csv.Column("relationship_label", "relationship_id", "label", labels=relationship_labels),
        csv.Column("area", "area__code"),
        csv.Column("title", "title"),
        csv.Column("kind", "kind"),
        csv.Column("level", "level"),
        csv.Column("status", "status"),
        csv.Column("start_date", "start_date", "date"),
        csv.Column("end_date", "end_date", "date"),
        csv.Column("participants", "participants", "number"),
        csv.Column("location", "location"),
        csv.Column("counterpart", "counterpart"),
        csv.Column("accreditation", "accreditation_id", "number"),
        csv.Column("description", "description"),
        csv.Column("outcome", "outcome"),
        csv.Column("releasability", "releasability", "choice", choices=RELEASABILITY),
        csv.Column("version", "version", "number"),
        csv.Column("created_at", "created_at", "datetime"),
        csv.Column("updated_at", "change__changed_at", "datetime"),
    ]
    # The list's rows as ActivitySerializer writes them (tests/api/test_json_rows.py holds them equal).
    json_fields = [
        json_rows.field("id"),
        json_rows.field("relationship", "relationship_id"),
        json_rows.JsonField(
            "relationship_label", ("relationship__state_a", "relationship__state_b"), "python", python=pair_label
        ),
        json_rows.field("area", "area__code", "text"),
        json_rows.field("title", kind="text"),
        json_rows.field("kind", kind="text"),
        json_rows.field("level", kind="text"),
        json_rows.field("status", kind="text"),
        json_rows.field("start_date", kind="date"),
        json_rows.field("end_date", kind="date"),
        json_rows.field("participants"),
        json_rows.field("location", kind="text"),
        json_rows.field("counterpart", kind="text"),
        json_rows.field("accreditation", "accreditation_id"),
        json_rows.field("description", kind="text"),
        json_rows.field("outcome", kind="text"),
        json_rows.field("releasability", kind="choice", choices=RELEASABILITY),
        json_rows.field("version"),
        json_rows.field("created_at", kind="datetime"),
        json_rows.field("updated_at", Coalesce("change__changed_at", "updated_at"), "datetime"),
    ]
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]

    def get_queryset(self) -> QuerySet[Activity]:
        return Activity.objects.visible_to(self.request.user).select_related("relationship", "area", "change")  # type: ignore[arg-type]

    def visibility_terms(self) -> Hashable:
        # get_queryset reads the request's user only through the visibility rule.
        return visibility_terms(self.request.user)  # type: ignore[arg-type]

    # Reads ---------------------------------------------------------------------------

    @cached_property
    def updated_since(self) -> Any:
        raw = self.request.query_params.get("updated_since")
        if raw is None:
            return None
        field = ActivityFilterSet.base_filters["updated_since"].field_class()
        try:
            return field.clean(raw)
        except Exception as error:  # django ValidationError
            raise exceptions.ValidationError(
                {"updated_since": list(getattr(error, "messages", [str(error)]))}
            ) from None

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        check_present_not_empty(request, "format", "ordering", "cursor", "page_size", "updated_since")
        if self.updated_since is None:
            return super().list(request, *args, **kwargs)
        ordering = request.query_params.get("ordering")
        if ordering not in (None, "updated_at"):
            raise exceptions.ValidationError(
                {"ordering": ["A sync (updated_since) comes in order of change: leave out ordering or use updated_at."]}
            )
        matching = self.filter_queryset(self.get_queryset())
        size = self.paginator.page_size(request)  # type: ignore[union-attr]
        if self.wants_csv():
            return csv.csv_response(self._sync_csv(matching), "activity-changes")
        after, walk_started = self._sync_position(request)
        entries, walk_started = self._feed(matching, after=after, walk_started=walk_started, limit=size + 1)
        more = len(entries) > size
        entries = entries[:size]
        results = [
            ActivitySerializer(entry.activity, context=self.get_serializer_context()).data
            if entry.activity is not None
            else {"id": entry.activity_id, "deleted": True, "updated_at": STAMP.to_representation(entry.changed_at)}
            for entry in entries
        ]
        next_url = None
        if more:
            payload = {"o": "sync", "v": list(entries[-1].position), "w": walk_started}
            next_url = self.paginator._link(request, payload)  # type: ignore[union-attr]
        self.paginator.set_links(next_url, None)  # type: ignore[union-attr]
        return self.get_paginated_response(results)

    def _sync_position(self, request: Request) -> Any:
        """The position after which the page starts and when the walk began (None for a cursor
        from before the walk kept it: the feed then takes `updated_since`)."""
        cursor = request.query_params.get("cursor")
        if cursor is None:
            return None, None
        payload = decode_cursor(cursor)
        values = payload.get("v")
        if payload.get("o") != "sync" or not isinstance(values, list) or len(values) != 2:
            raise exceptions.ValidationError(
                {"cursor": ["This cursor does not belong to a sync: use the links as given."]}
            )
        try:
            field = ActivityFilterSet.base_filters["updated_since"].field_class()
            stamp = field.clean(values[0])
            activity_id = int(values[1])
            walk_started = field.clean(payload.get("w"))
        except Exception:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None
        if stamp is None:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]})
        return (stamp, activity_id), walk_started

    def _feed(self, matching: QuerySet[Activity], *, after: Any, walk_started: Any, limit: int) -> Any:
        """One snapshot for the positions and the records, so a record is never sent newer
        than the change it stands for (it would then come again at its own position); the
        first page's snapshot also says when the walk began. Returns the entries and that."""
        starts_transaction = not connection.in_atomic_block
        with transaction.atomic():
            if starts_transaction:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if after is None:
                walk_started = clock()
            entries = activity_feed(
                user=self.request.user,  # type: ignore[arg-type]
                matching=matching,
                since=self.updated_since,
                after=after,
                walk_started=walk_started,
                limit=limit,
            )
            return entries, walk_started

    def _sync_csv(self, matching: QuerySet[Activity]) -> Any:
        columns = self.csv_columns
        yield csv.csv_line([column.header for column in columns] + ["deleted"])
        labels = relationship_labels(self.request.user)
        after = walk_started = None
        while True:
            entries, walk_started = self._feed(matching, after=after, walk_started=walk_started, limit=csv.CHUNK_ROWS)
            if not entries:
                return
            lines = []
            for entry in entries:
                if entry.activity is None:
                    cells = [""] * len(columns) + ["true"]
                    cells[0] = str(entry.activity_id)
                    cells[-2] = entry.changed_at.isoformat()
                else:
                    cells = [self._python_cell(column, entry.activity, labels) for column in columns] + ["false"]
                lines.append(csv.csv_line(cells))
            yield "".join(lines)
            after = entries[-1].position

    @staticmethod
    def _python_cell(column: csv.Column, activity: Activity, labels: dict[int, str]) -> str:
        assert isinstance(column.source, str)
        value: Any = activity
        for part in column.source.split("__"):
            value = getattr(value, part)
        if column.kind == "label":
            return labels.get(value, "")
        if column.kind == "choice":
            assert column.choices is not None
            return column.choices.get(value, "")
        return csv.python_cell(column, value)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        activity = self.get_object()
        return Response(self.get_serializer(activity).data, headers={"ETag": etag_for(activity)})

    # Writes ----------------------------------------------------------------------------

    def _respond(self, activity: Activity, status_code: int) -> Response:
        fresh = self.get_queryset().get(pk=activity.pk)
        return Response(self.get_serializer(fresh).data, status=status_code, headers={"ETag": etag_for(fresh)})

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = idempotency_key(request)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            activity = serializer.save(idempotency_key=key)
        except services.DuplicateSubmission as duplicate:
            return already_created(duplicate.instance, duplicate.fields)
        if activity.is_deleted:  # a retry of a create whose activity was deleted since
            return already_created(activity, [])
        response = self._respond(activity, status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"{activity.pk}/")
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        activity = self.get_object()
        version = expected_version(request, activity.pk)
        context = {**self.get_serializer_context(), "expected_version": version}
        serializer = self.get_serializer_class()(
            activity, data=request.data, partial=kwargs.get("partial", False), context=context
        )
        serializer.is_valid(raise_exception=True)
        return self._respond(serializer.save(), status.HTTP_200_OK)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        activity = self.get_object()
        version = expected_version(request, activity.pk)
        services.activity_soft_delete(actor=request.user, activity=activity, expected_version=version)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostViewSet(ApiViewSet):
    serializer_class = PostSerializer
    filterset_class = PostFilterSet
    queryset = Post.objects.all()
    orderings = {"name": ("name",), "id": ()}
    default_ordering = "name"
    lookup_value_regex = r"[0-9]+"
    csv_filename = "posts"
    csv_columns = [
        csv.Column("id", "id", "number"),
        csv.Column("name", "name"),
        csv.Column("sending_country", "sending_country"),
        csv.Column("host_country", "host_country"),
        csv.Column("city", "city"),
    ]


class AttacheViewSet(ApiViewSet):
    serializer_class = AttacheSerializer
    filterset_class = AttacheFilterSet
    queryset = Attache.objects.all()
    orderings = {"name": ("name",), "id": ()}
    default_ordering = "name"
    lookup_value_regex = r"[0-9]+"
    csv_filename = "attaches"
    csv_columns = [
        csv.Column("id", "id", "number"),
        csv.Column("name", "name"),
        csv.Column("rank", "rank"),
        csv.Column("service", "service"),
        csv.Column("sending_country", "sending_country"),
    ]


class AccreditationViewSet(ApiViewSet):
    serializer_class = AccreditationSerializer
    filterset_class = AccreditationFilterSet
    orderings = {"requested_on": ("requested_on",), "updated_at": ("updated_at",), "id": ()}
    default_ordering = "-requested_on"
    lookup_value_regex = r"[0-9]+"
    csv_filename = "accreditations"
    csv_columns = [
        csv.Column("id", "id", "number"),
        csv.Column("attache", "attache_id", "number"),
        csv.Column("attache_name", "attache__name"),
        csv.Column("post", "post_id", "number"),
        csv.Column("post_name", "post__name"),
        csv.Column("host_country", "host_country"),
        csv.Column("relationship", "relationship_id", "number"),
        csv.Column("relationship_label", "relationship_id", "label", labels=relationship_labels),
        csv.Column("kind", "kind"),
        csv.Column("status", "status"),
        csv.Column("requested_on", "requested_on", "date"),
        csv.Column("agrement_on", "agrement_on", "date"),
        csv.Column("accredited_on", "accredited_on", "date"),
        csv.Column("ended_on", "ended_on", "date"),
        csv.Column("refused_on", "refused_on", "date"),
        csv.Column("withdrawn_on", "withdrawn_on", "date"),
        csv.Column("releasability", "releasability", "choice", choices=RELEASABILITY),
        csv.Column("notes", "notes"),
        csv.Column("version", "version", "number"),
        csv.Column("created_at", "created_at", "datetime"),
        csv.Column("updated_at", "updated_at", "datetime"),
    ]

    def get_queryset(self) -> QuerySet[Accreditation]:
        return Accreditation.objects.visible_to(self.request.user).select_related("attache", "post", "relationship")  # type: ignore[arg-type]

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        accreditation = self.get_object()
        return Response(self.get_serializer(accreditation).data, headers={"ETag": etag_for(accreditation)})


class RelationshipViewSet(ApiViewSet):
    serializer_class = RelationshipSerializer
    filterset_class = RelationshipFilterSet
    orderings = {"id": ()}
    default_ordering = "id"
    lookup_value_regex = r"[0-9]+"
    csv_filename = "relationships"
    csv_columns = [
        csv.Column("id", "id", "number"),
        csv.Column("state_a", "state_a"),
        csv.Column("state_b", "state_b"),
        csv.Column("label", "id", "label", labels=relationship_labels),
        csv.Column("notes", "notes"),
        csv.Column("created_at", "created_at", "datetime"),
    ]

    def get_queryset(self) -> QuerySet[Relationship]:
        return Relationship.objects.visible_to(self.request.user)  # type: ignore[arg-type]


class CooperationAreaViewSet(ApiViewSet):
    serializer_class = CooperationAreaSerializer
    filterset_class = CooperationAreaFilterSet
    queryset = CooperationArea.objects.all()
    lookup_field = "code"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    orderings = {"position": ("position", "name"), "code": ("code",)}
    default_ordering = "position"
    csv_filename = "areas"
    csv_columns = [
        csv.Column("code", "code"),
        csv.Column("name", "name"),
        csv.Column("description", "description"),
        csv.Column("position", "position", "number"),
        csv.Column("is_active", "is_active", "bool"),
    ]


class DeskViewSet(ApiViewSet):
    serializer_class = DeskSerializer
    filterset_class = DeskFilterSet
    orderings = {"name": ("name",), "id": ()}
    default_ordering = "name"
    lookup_value_regex = r"[0-9]+"
    csv_filename = "desks"
    csv_columns = [
        csv.Column("id", "id", "number"),
        csv.Column("name", "name"),
        csv.Column("description", "description"),
    ]

    def get_queryset(self) -> QuerySet[Desk]:
        return Desk.objects.visible_to(self.request.user).prefetch_related("relationships")  # type: ignore[arg-type]
