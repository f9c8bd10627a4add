"""Second factor (TOTP, django-otp): admins must use it, everyone else may.

After the password, a user with a confirmed device must enter a code before anything
else; an admin without one must set one up first. API requests with a token are not
affected (the token is the credential); API requests riding on a browser session are.
"""

from __future__ import annotations

import base64
import datetime
import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

from accounts.models import SecurityEventKind
from accounts.security import record_security_event

EXEMPT_PREFIXES = ("/accounts/two-factor/", "/accounts/logout/", "/accounts/login/", "/static/", "/favicon.ico")


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].replace(" ", "")
        if not code.isdigit():
            raise forms.ValidationError("Enter the digits your authenticator app shows.")
        return code


def second_factor_required(user: Any) -> bool:
    return bool(settings.OTP_REQUIRED_FOR_ADMINS and user.is_admin_role)


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _complete_sign_in(request: HttpRequest, device: TOTPDevice) -> None:
    """Mark the session verified under a new key: one known before the code is worth nothing after."""
    request.session.cycle_key()
    otp_login(request, device)


def _qr_data_uri(text: str) -> str:
    buffer = io.BytesIO()
    write_qrcode_image(text, buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_PENDING_DEVICE = "two_factor_pending_device"


def _pending_device(request: HttpRequest) -> TOTPDevice:
    """The unconfirmed device this session is setting up, created on its first visit.

    Reloads show the same key and write nothing. Another session (another browser, or
    someone who had only the password) gets a device of its own beside it, so a key is
    confirmed only by the session it was shown to and nobody restarts the owner's setup.
    Pending devices older than a session can live are removed when a session creates one.
    """
    pending = TOTPDevice.objects.filter(user=request.user, confirmed=False)
    device = pending.filter(pk=request.session.get(_PENDING_DEVICE)).first()
    if device is None:
        expired = timezone.now() - datetime.timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT)
        with transaction.atomic():
            pending.filter(Q(created_at__lt=expired) | Q(created_at=None)).delete()
            device = TOTPDevice.objects.create(user=request.user, name="Authenticator app", confirmed=False)
        request.session[_PENDING_DEVICE] = device.pk
    return device


def _confirm(device: TOTPDevice, code: str) -> bool | None:
    """Confirm the session's pending device if `code` comes from its key, removing the
    user's other devices (other sessions' pending ones; the confirmed one it replaces).

    None when the device is gone: another session confirmed its own first. The user's
    devices are locked in one order, so two sessions confirming at once cannot both win.
    """
    with transaction.atomic():
        devices = TOTPDevice.objects.select_for_update().filter(user_id=device.user_id).order_by("pk")
        locked = next((each for each in devices if each.pk == device.pk and not each.confirmed), None)
        if locked is None:
            return None
        if not locked.verify_token(code):
            return False
        TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
        locked.confirmed = True
        locked.save(update_fields=["confirmed"])
    return True


@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Show the QR code and key of a new device; a correct code confirms it.

    Replacing or switching off a confirmed device needs a verified session: the password
    alone must not let anyone swap the owner's authenticator for their own.
    """
    user = request.user
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    if confirmed and not user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(
            f"{reverse('accounts:two_factor_verify')}?{urlencode({'next': request.get_full_path()})}"
        )
    if request.method == "POST" and "disable" in request.POST:
        if second_factor_required(user):
            messages.error(request, "Administrators must keep a second factor.")
        else:
            TOTPDevice.objects.filter(user=user).delete()
            messages.success(request, "The second factor is switched off.")
        return redirect("accounts:two_factor")
    device = None if confirmed and "replace" not in request.GET else _pending_device(request)
    form = CodeForm(request.POST or None)
    if device is not None and request.method == "POST" and form.is_valid():
        confirmed_now = _confirm(device, form.cleaned_data["code"])
        if confirmed_now is None:
            return redirect("accounts:two_factor")
        if confirmed_now:
            request.session.pop(_PENDING_DEVICE, None)
            _complete_sign_in(request, device)
            messages.success(request, "Your second factor is set up.")
            return HttpResponseRedirect(_safe_next(request))
        record_security_event(kind=SecurityEventKind.SECOND_FACTOR_FAILED, success=False, request=request, user=user)
        form.add_error("code", "That code is not right. Check the time on your phone and try the next code.")
    context = {
        "confirmed": confirmed,
        "required": second_factor_required(user),
        "device": device,
        "form": form,
        "next": _safe_next(request, ""),
    }
    if device is not None:
        context["qr"] = _qr_data_uri(device.config_url)
        context["key"] = base64.b32encode(device.bin_key).decode("ascii")
    return render(request, "accounts/two_factor_setup.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Ask a signed-in user with a device for a code."""
    devices = TOTPDevice.objects.filter(user=request.user, confirmed=True)
    if not devices.exists():
        return redirect("accounts:two_factor")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        for device in devices:
            if device.verify_token(form.cleaned_data["code"]):
                _complete_sign_in(request, device)
                return HttpResponseRedirect(_safe_next(request))
        record_security_event(
            kind=SecurityEventKind.SECOND_FACTOR_FAILED, success=False, request=request, user=request.user
        )
        form.add_error("code", "That code is not right. Try the next code your app shows.")
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": _safe_next(request, "")})


class SecondFactorMiddleware:
    """Hold a session at the second factor until it is verified (and admins until they set one up)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.path.startswith(EXEMPT_PREFIXES):
            return self.get_response(request)
        if user.is_verified():
            return self.get_response(request)
        if user_has_device(user):
            return self._hold(request, "accounts:two_factor_verify", "Enter the code from your authenticator app.")
        if second_factor_required(user):
            return self._hold(request, "accounts:two_factor", "Administrators must set up a second factor first.")
        return self.get_response(request)

    @staticmethod
    def _hold(request: HttpRequest, view: str, message: str) -> HttpResponse:
        if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            return JsonResponse({"detail": f"Second factor required. {message}"}, status=403)
        return HttpResponseRedirect(f"{reverse(view)}?{urlencode({'next': request.get_full_path()})}")
