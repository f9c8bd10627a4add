from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


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
