"""Sign in, sign out and password change: Django's own views with Attaché's templates.

Failed sign-ins are counted by django-axes (AUTHENTICATION_BACKENDS), whose lockout
response is `registration/locked_out.html`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import path, reverse_lazy

from accounts import two_factor
from accounts.models import SecurityEventKind
from accounts.security import record_security_event

app_name = "accounts"


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view, plus a security event for the change."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        record_security_event(
            kind=SecurityEventKind.PASSWORD_CHANGED, success=True, request=self.request, user=self.request.user
        )
        return response


urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, extra_context={"failure_limit": settings.AXES_FAILURE_LIMIT}
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        PasswordChangeView.as_view(success_url=reverse_lazy("accounts:password_change_done")),
        name="password_change",
    ),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("two-factor/", two_factor.setup, name="two_factor"),
    path("two-factor/verify/", two_factor.verify, name="two_factor_verify"),
]
