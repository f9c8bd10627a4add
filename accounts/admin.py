from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, SecurityEvent, User
from accounts.services import token_revoke, user_deactivate
from attache.lost_update_admin import LostUpdateGuard
from attache.read_only_admin import ReadOnlyAdmin


@admin.register(User)
class UserAdmin(LostUpdateGuard, DjangoUserAdmin):
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
    # Written by signing in: an open change form must neither put back an older value
    # nor be refused because the user signed in meanwhile.
    readonly_fields = ("last_login",)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        deactivated = change and "is_active" in form.changed_data and not obj.is_active
        super().save_model(request, obj, form, change)
        if deactivated:
            user_deactivate(actor=request.user, user=obj, request=request)  # type: ignore[arg-type]


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("at", "kind", "success", "username", "ip", "path")
    list_filter = ("kind", "success", "at")
    search_fields = ("username", "ip", "path")
    date_hierarchy = "at"
    readonly_fields = ("at", "kind", "success", "user", "username", "ip", "path", "detail")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Tokens are issued by `issue_token` or on /accounts/tokens/; here they are listed and revoked."""

    list_display = ("prefix", "name", "user", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    exclude = ("digest",)
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            token_revoke(token=token, actor=request.user, request=request)  # type: ignore[arg-type]
