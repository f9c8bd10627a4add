"""The way back to a list as the user left it (filters, order, page size, page).

As Django's admin does with `_changelist_filters`: a list's links to a record carry the
list's query string in one parameter, `back`; each page passes it on (links, and a hidden
input in forms so a POST and its redirect keep it), and every way back rebuilds the list's
own URL from it. The value is only ever re-encoded into a known list's URL, never used
as a URL: a crafted one can change the filters shown, nothing else.
"""

from __future__ import annotations

from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.http import urlencode

BACK = "back"
# A list's query with every filter of the panel set is well under this; a longer one is ignored.
MAX_LENGTH = 2000


def list_query(query: str) -> str:
    """`query` re-encoded, without a `back` of its own; empty when too long or malformed."""
    if len(query) > MAX_LENGTH:
        return ""
    try:
        parsed = QueryDict(query, mutable=True)
    except TooManyFieldsSent:
        return ""
    parsed.pop(BACK, None)
    return parsed.urlencode()


def came_from(request: HttpRequest) -> str:
    """The query of the list the user came from: sent by a form (POST) or in the URL."""
    return list_query(request.POST.get(BACK) or request.GET.get(BACK, ""))


def back_to_list(request: HttpRequest, list_name: str) -> str:
    """The URL of the list `list_name` as the user left it."""
    query = came_from(request)
    return f"{reverse(list_name)}?{query}" if query else reverse(list_name)


def keeping_back(url: str, query: str) -> str:
    """`url` (a page of the list's records, without a query) passing on the list's `query`."""
    return f"{url}?{urlencode({BACK: query})}" if query else url


def passing_on(request: HttpRequest, view_name: str, *args: object) -> str:
    """The URL of `view_name` (a page of the list's records) passing on the list the user
    came from: its links, and its redirects after a save."""
    return keeping_back(reverse(view_name, args=args), came_from(request))


def list_as_shown(request: HttpRequest) -> str:
    """The query of the list this request shows, to pass on from its links."""
    return list_query(request.GET.urlencode())
