from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from accounts.models import SecurityEvent, User
from accounts.services import user_deactivate


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "role", "clearance", "is_active", "last_login")
    list_filter = ("role", "clearance", "is_active", "is_staff", "desks")
    search_fields = ("username", "first_name", "last_name", "email")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Attaché", {"fields": ("role", "clearance")}),
    )
    add_fieldsets = (
        *(DjangoUserAdmin.add_fieldsets or ()),
        ("Attaché", {"fields": ("role", "clearance")}),
    )

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        deactivated = change and "is_active" in form.changed_data and not obj.is_active
        super().save_model(request, obj, form, change)
        if deactivated:
            user_deactivate(actor=request.user, user=obj, request=request)  # type: ignore[arg-type]


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "success", "username", "ip", "path")
    list_filter = ("kind", "success", "at")
    search_fields = ("username", "ip", "path")
    date_hierarchy = "at"
    readonly_fields = ("at", "kind", "success", "user", "username", "ip", "path", "detail")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
