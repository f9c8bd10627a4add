"""/api/v1/: the resources, the OpenAPI schema and the Swagger UI (assets from the sidecar
package, no CDN), and the intensity report. Every route here is in the role × method matrix of
tests/api/test_permissions.py.
"""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from cooperation.api import views
from cooperation.api.base import JsonErrors
from cooperation.api.errors import not_found
from cooperation.api.intensity import IntensityView
from cooperation.api.throttling import AnonRateThrottle, TokenRateThrottle, UserRateThrottle

app_name = "api"

router = SimpleRouter()
router.register("posts", views.PostViewSet, basename="post")
router.register("attaches", views.AttacheViewSet, basename="attache")
router.register("accreditations", views.AccreditationViewSet, basename="accreditation")
router.register("relationships", views.RelationshipViewSet, basename="relationship")
router.register("areas", views.CooperationAreaViewSet, basename="area")
router.register("desks", views.DeskViewSet, basename="desk")
router.register("activities", views.ActivityViewSet, basename="activity")

THROTTLES = [TokenRateThrottle, UserRateThrottle, AnonRateThrottle]


class SchemaView(JsonErrors, SpectacularAPIView):
    pass


class DocsView(JsonErrors, SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served from `?script` rather than inline, which the
    Content-Security-Policy (`script-src 'self'`) would block."""


urlpatterns = [
    *router.urls,
    path("intensity/", IntensityView.as_view(), name="intensity"),
    path(
        "schema/",
        SchemaView.as_view(throttle_classes=THROTTLES, authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        DocsView.as_view(
            url_name="api:schema", throttle_classes=THROTTLES, authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    re_path(r"^(?P<path>.*)$", not_found, name="not-found"),
]
