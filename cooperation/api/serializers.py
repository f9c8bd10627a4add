"""Serializers check the shape of what comes in and say how records go out; every write
goes on to a service in cooperation/services.py, which owns the domain rules."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cooperation import services
from cooperation.choices import Classification
from cooperation.models import Accreditation, Activity, Attache, CooperationArea, Desk, Post, Relationship


class ClassificationField(serializers.ChoiceField):
    """Releasability as its code: public, internal or restricted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[member.code for member in Classification], **kwargs)

    def to_representation(self, value: Any) -> str:
        return Classification(value).code

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]
        code = super().to_internal_value(data)
        return int(Classification.from_code(code))


@extend_schema_field(OpenApiTypes.DATETIME)
class ChangeStampField(serializers.Field):
    """When the latest change was committed: the position to resume a sync from."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, instance: Any) -> Any:
        change = getattr(instance, "change", None)
        stamp = change.changed_at if change is not None and change.changed_at is not None else instance.updated_at
        return serializers.DateTimeField().to_representation(stamp)


def _request_user(serializer: serializers.BaseSerializer[Any]) -> Any:
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class ActivitySerializer(serializers.ModelSerializer[Activity]):
    relationship = serializers.PrimaryKeyRelatedField(queryset=Relationship.objects.none())
    relationship_label = serializers.CharField(source="relationship.label", read_only=True)
    area = serializers.SlugRelatedField(slug_field="code", queryset=CooperationArea.objects.all())
    accreditation = serializers.PrimaryKeyRelatedField(
        queryset=Accreditation.objects.none(), allow_null=True, required=False
    )
    releasability = ClassificationField(required=False)
    updated_at = ChangeStampField(help_text="When the latest change was committed; resume a sync from it.")

    class Meta:
        model = Activity
        fields = [
            "id",
            "relationship",
            "relationship_label",
            "area",
            "title",
            "kind",
            "level",
            "status",
            "start_date",
            "end_date",
            "participants",
            "location",
            "counterpart",
            "accreditation",
            "description",
            "outcome",
            "releasability",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "version", "created_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _request_user(self)
        if user is not None:
            self.fields["relationship"].queryset = Relationship.objects.visible_to(user)  # type: ignore[attr-defined]
            self.fields["accreditation"].queryset = Accreditation.objects.visible_to(user)  # type: ignore[attr-defined]

    def create(self, validated_data: dict[str, Any]) -> Activity:
        return services.activity_create(actor=_request_user(self), **validated_data)

    def update(self, instance: Activity, validated_data: dict[str, Any]) -> Activity:
        return services.activity_update(
            actor=_request_user(self),
            activity=instance,
            data=validated_data,
            expected_version=self.context["expected_version"],
        )


class ActivityTombstoneSerializer(serializers.Serializer[Any]):
    """In a sync (`updated_since`): a record deleted, no longer visible to you, or no longer
    matching your filters since you last saw it."""

    id = serializers.IntegerField()
    deleted = serializers.BooleanField(help_text="Always true.")
    updated_at = serializers.DateTimeField()


class PostSerializer(serializers.ModelSerializer[Post]):
    class Meta:
        model = Post
        fields = ["id", "name", "sending_country", "host_country", "city"]


class AttacheSerializer(serializers.ModelSerializer[Attache]):
    class Meta:
        model = Attache
        fields = ["id", "name", "rank", "service", "sending_country"]


class AccreditationSerializer(serializers.ModelSerializer[Accreditation]):
    attache_name: serializers.CharField = serializers.CharField(source="attache.__str__", read_only=True)
    post_name = serializers.CharField(source="post.name", read_only=True)
    relationship_label = serializers.CharField(source="relationship.label", read_only=True)
    releasability = ClassificationField(read_only=True)

    class Meta:
        model = Accreditation
        fields = [
            "id",
            "attache",
            "attache_name",
            "post",
            "post_name",
            "host_country",
            "relationship",
            "relationship_label",
            "kind",
            "status",
            "requested_on",
            "agrement_on",
            "accredited_on",
            "ended_on",
            "refused_on",
            "withdrawn_on",
            "releasability",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ]


class RelationshipSerializer(serializers.ModelSerializer[Relationship]):
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]

    class Meta:
        model = Relationship
        fields = ["id", "state_a", "state_b", "label", "notes", "created_at"]


class CooperationAreaSerializer(serializers.ModelSerializer[CooperationArea]):
    class Meta:
        model = CooperationArea
        fields = ["code", "name", "description", "position", "is_active"]


class DeskSerializer(serializers.ModelSerializer[Desk]):
    relationships: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Desk
        fields = ["id", "name", "description", "relationships"]
