"""pghistory's event viewer ("Events" in the admin), for administrators only.

It lists the stored versions of every tracked record — activities and accreditations of
every desk and releasability — and cannot be scoped by desk and clearance the way
`VisibleRecordsAdmin` scopes the records (its rows mix every tracked model). Only
administrators see everything, so only they may open it, whatever view permissions a
staff member has been given. Configured as `PGHISTORY_ADMIN_CLASS`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from pghistory.admin import EventsAdmin


def _is_administrator(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_admin_role", False))


class AdministratorsEventsAdmin(EventsAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_administrator(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_administrator(request) and super().has_view_permission(request, obj)
