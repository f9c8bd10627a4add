"""Benchmark-only endpoint, served when settings.API_BENCHMARK_VIEWS is true (never in production):
the bare DRF view the API's list is compared with, on the same server."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

CONSTANT = {
    "next": None,
    "previous": None,
    "results": [
        {"id": index, "title": f"Activity {index}", "area": "education", "start_date": "2017-03-01", "version": 1}
        for index in range(100)
    ],
}


class ConstantView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        return Response(CONSTANT)
