"""Who may do what. The services, the pages and the importer all ask these functions,
so a role's rights are decided in one place.

Visibility (what a user may *see*) is `Model.objects.visible_to(user)`; this module
decides what a user may *write* and which users the HTML workspace serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from cooperation.choices import Role
from cooperation.models import Relationship
from cooperation.models.visibility import desk_relationship_ids

if TYPE_CHECKING:
    from accounts.models import User


def _active(user: Any) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def uses_workspace(user: Any) -> bool:
    """Desk officers, managers and admins use the HTML pages; API clients use the API."""
    return _active(user) and (user.is_admin_role or user.role != Role.API_CLIENT)


def is_writer(user: Any) -> bool:
    """Desk officers (within their desks and clearance) and admins write; managers and API clients read."""
    return _active(user) and (user.is_admin_role or user.role == Role.DESK_OFFICER)


def writable_relationships(user: Any) -> QuerySet[Relationship]:
    if not is_writer(user):
        return Relationship.objects.none()
    if user.is_admin_role:
        return Relationship.objects.all()
    return Relationship.objects.filter(pk__in=desk_relationship_ids(user))


def can_write_relationship(user: User, relationship_id: int) -> bool:
    if not is_writer(user):
        return False
    if user.is_admin_role:
        return True
    return desk_relationship_ids(user).filter(relationship_id=relationship_id).exists()


def can_write_record(user: Any, *, relationship_id: int, releasability: int) -> bool:
    """May `user` write a record of this relationship at this releasability?"""
    return (
        is_writer(user) and releasability <= user.effective_clearance and can_write_relationship(user, relationship_id)
    )
