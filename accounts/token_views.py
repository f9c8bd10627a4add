"""The signed-in user's own API tokens: issue (key shown once) and revoke."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.models import ApiToken
from accounts.services import token_issue, token_revoke


class TokenIssueForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'BI nightly pull'.")
    days = forms.IntegerField(min_value=1, label="Valid for (days)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.API_TOKEN_DEFAULT_DAYS
        self.fields["days"].validators.append(MaxValueValidator(settings.API_TOKEN_MAX_DAYS))
        self.fields["days"].widget.attrs["max"] = settings.API_TOKEN_MAX_DAYS


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = TokenIssueForm()
    new_key = None
    if request.method == "POST":
        if "revoke" in request.POST:
            chosen = request.POST["revoke"]
            # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
            number = int(chosen) if chosen.isascii() and chosen.isdigit() else 0
            token = get_object_or_404(user.api_tokens, pk=number)  # type: ignore[union-attr]
            token_revoke(token=token, actor=user, request=request)  # type: ignore[arg-type]
            messages.success(request, f"Token {token.prefix}… revoked.")
            return redirect("api-tokens")
        form = TokenIssueForm(request.POST)
        if form.is_valid():
            try:
                _, new_key = token_issue(
                    user=user,  # type: ignore[arg-type]
                    name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"],
                    actor=user,  # type: ignore[arg-type]
                    request=request,
                )
            except ValidationError as error:
                for field, field_errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, field_errors)
            else:
                form = TokenIssueForm()
    return render(
        request,
        "accounts/tokens.html",
        {"form": form, "new_key": new_key, "tokens": ApiToken.objects.filter(user=user)},  # type: ignore[misc]
        status=400 if form.errors else 200,
    )
