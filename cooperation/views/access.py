"""Who gets which workspace page: the one place the views ask (through these mixins).

Anonymous users are sent to sign in. API clients get 403 (they use the API). Pages that
change records need a writer (desk officer or admin): managers get 403. A record the user
may not see — another desk's, above their clearance, deleted — is a 404, never a 403, so
its existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from cooperation.models import Accreditation, Activity
from cooperation.permissions import can_write_record, is_writer, uses_workspace

API_CLIENT_REFUSAL = "This account is an API client: it reads Attaché through the API at /api/v1/, not these pages."
READ_ONLY_REFUSAL = "Your role reads records but does not change them."


class WorkspaceAccess(AccessMixin):
    """Signed-in workspace users; with `writes = True`, writers only."""

    writes = False
    request: HttpRequest

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return self.handle_no_permission()
        if not uses_workspace(user):
            raise PermissionDenied(API_CLIENT_REFUSAL)
        if self.writes and not is_writer(user):
            raise PermissionDenied(READ_ONLY_REFUSAL)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    # Records, found through the visibility rules only ------------------------------

    def visible_activity(self, pk: int, *, include_deleted: bool = False) -> Activity:
        queryset = Activity.objects.visible_to(self.request.user, include_deleted=include_deleted)  # type: ignore[arg-type]
        return get_object_or_404(queryset.select_related("relationship", "area", "accreditation__attache"), pk=pk)

    def writable_activity(self, pk: int) -> Activity:
        """An activity the user may change (deleted ones included, for restore)."""
        activity = self.visible_activity(pk, include_deleted=True)
        self._require_write(activity.relationship_id, activity.releasability)
        return activity

    def visible_accreditation(self, pk: int) -> Accreditation:
        queryset = Accreditation.objects.visible_to(self.request.user)  # type: ignore[arg-type]
        return get_object_or_404(queryset.select_related("attache", "post", "relationship"), pk=pk)

    def writable_accreditation(self, pk: int) -> Accreditation:
        accreditation = self.visible_accreditation(pk)
        self._require_write(accreditation.relationship_id, accreditation.releasability)
        return accreditation

    def _require_write(self, relationship_id: int, releasability: int) -> None:
        if not can_write_record(self.request.user, relationship_id=relationship_id, releasability=releasability):
            raise Http404("No such record.")


def shows_deleted(user: Any) -> bool:
    """Deleted activities exist only for those who could restore them."""
    return is_writer(user)
