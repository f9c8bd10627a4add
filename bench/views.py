"""Benchmark-only endpoint, served when settings.API_BENCHMARK_VIEWS is true (never in production):
the bare DRF view the API's list is compared with, on the same server.

It is an `ApiView` like every API endpoint: the same middleware stack, token and session
authentication, permission classes, the three throttles, the JSON renderer and the weak
ETag over the body — everything except reading records. So the benchmark's ratio is the
cost of the list's own work (filters, visibility, the query, writing the rows, cursor
links) against the cost of answering any authenticated API request with 100 items.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from cooperation.api.base import ApiView

CONSTANT = {
    "next": None,
    "previous": None,
    "results": [
        {"id": index, "title": f"Activity {index}", "area": "education", "start_date": "2017-03-01", "version": 1}
        for index in range(100)
    ],
}


class ConstantView(ApiView):
    @extend_schema(exclude=True)  # not part of the API
    def get(self, request: Request) -> Response:
        return Response(CONSTANT)
