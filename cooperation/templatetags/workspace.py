"""Template helpers for the workspace pages: Bootstrap widgets, query strings, change lists."""

from __future__ import annotations

from typing import Any

from django import forms, template
from django.http import QueryDict
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from cooperation.back import BACK, back_to_list, came_from, keeping_back, list_as_shown, passing_on

register = template.Library()


def _css_class(widget: forms.Widget) -> str:
    if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect):
        return "form-check-input"
    if isinstance(widget, forms.Select):
        return "form-select"
    return "form-control"


@register.filter
def bootstrap(field: forms.BoundField) -> SafeString:
    """Render a field's widget with Bootstrap classes; invalid fields are marked so."""
    widget = field.field.widget
    css = _css_class(widget)
    if field.errors:
        css += " is-invalid"
    attrs: dict[str, Any] = {"class": f"{widget.attrs.get('class', '')} {css}".strip()}
    if field.errors:
        attrs["aria-describedby"] = f"{field.auto_id}_errors"
    elif field.help_text:
        attrs["aria-describedby"] = f"{field.auto_id}_help"
    return field.as_widget(attrs=attrs)


@register.filter
def is_checkbox(field: forms.BoundField) -> bool:
    return isinstance(field.field.widget, forms.CheckboxInput)


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    query: QueryDict = context["request"].GET.copy()
    for name, value in changes.items():
        if value is None or value == "":
            query.pop(name, None)
        else:
            query[name] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def back_to(context: dict[str, Any], list_name: str) -> str:
    """The list `list_name` as the user left it (filters, order, page): a way back to it."""
    return back_to_list(context["request"], list_name)


@register.simple_tag(takes_context=True)
def url_back(context: dict[str, Any], view_name: str, *args: Any) -> str:
    """`{% url %}` of a page of the list's records, passing on the list the user came from."""
    return passing_on(context["request"], view_name, *args)


@register.simple_tag(takes_context=True)
def url_from_list(context: dict[str, Any], view_name: str) -> str:
    """`{% url %}` of a page opened from a list (New activity), passing on the list as it is now."""
    return keeping_back(reverse(view_name), list_as_shown(context["request"]))


@register.simple_tag(takes_context=True)
def back_input(context: dict[str, Any]) -> str:
    """The list the user came from, sent again with a form (its redirect keeps it)."""
    query = came_from(context["request"])
    return format_html('<input type="hidden" name="{}" value="{}">', BACK, query) if query else ""
