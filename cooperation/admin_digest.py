"""Admin for the monthly digest: the log of sends (read-only) and a "send now" button."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from attache.read_only_admin import ReadOnlyAdmin
from cooperation.digests import digests_schedule, previous_month
from cooperation.models import DigestSend


class SendNowForm(forms.Form):
    month = forms.DateField(
        label="Month",
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text="The month the digest reports; managers who already had it are skipped.",
    )

    def clean_month(self) -> datetime.date:
        return self.cleaned_data["month"].replace(day=1)


@admin.register(DigestSend)
class DigestSendAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """A log: written by the digest service only."""

    list_display = ("month", "recipient", "email", "relationships", "sent_at", "triggered_by")
    list_filter = ("month",)
    search_fields = ("recipient__username", "email")
    date_hierarchy = "month"
    list_select_related = ("recipient", "triggered_by")
    change_list_template = "admin/cooperation/digestsend/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        send_now = path(
            "send-now/", self.admin_site.admin_view(self.send_now_view), name="cooperation_digestsend_send_now"
        )
        return [send_now, *super().get_urls()]

    def send_now_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_admin_role:  # type: ignore[union-attr]
            raise PermissionDenied("Only administrators may send the digest.")
        form = SendNowForm(
            request.POST if request.method == "POST" else None,
            initial={"month": previous_month(timezone.localdate())},
        )
        if request.method == "POST" and form.is_valid():
            try:
                scheduled = digests_schedule(month=form.cleaned_data["month"], actor=request.user)  # type: ignore[arg-type]
            except ValidationError as error:
                form.add_error("month", error.message_dict.get("month", error.messages))
            else:
                self.message_user(
                    request,
                    f"Digest of {scheduled.month:%B %Y}: sending to {scheduled.queued} manager(s); "
                    f"{scheduled.already_sent} had it already.",
                    messages.SUCCESS,
                )
                return redirect("admin:cooperation_digestsend_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Send the monthly digest now",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/cooperation/digestsend/send_now.html", context)
