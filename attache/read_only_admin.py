"""Admin pages for logs and derived tables: listed and filtered, never edited by hand."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdmin:
    """No add, change or delete in the admin (the records are written by services or
    triggers, and some tables refuse UPDATE and DELETE outright). `deletable = True`
    lets admins clear records that are safe to remove."""

    deletable = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)  # type: ignore[misc]
