"""Who may call what. Records are scoped by `visible_to` (404 beyond it) and writes are
checked again by the services; this only turns away roles that never write."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from cooperation.choices import Role


class WritesByDeskOfficersAndAdmins(BasePermission):
    message = "Your role may read these records but not change them."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user: Any = request.user
        return bool(
            user.is_authenticated and (user.is_admin_role or (user.is_active and user.role == Role.DESK_OFFICER))
        )
