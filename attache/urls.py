from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from accounts.token_views import tokens

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("accounts/tokens/", tokens, name="api-tokens"),
    path("api/v1/", include("cooperation.api.urls")),
    path("accounts/", include("accounts.urls")),
    path("dashboard/", include("cooperation.dashboard_urls")),
    path("", include("cooperation.urls")),
]

handler400 = "attache.views.bad_request"
handler403 = "attache.views.permission_denied"
handler404 = "attache.views.page_not_found"
handler500 = "attache.views.server_error"

if settings.API_BENCHMARK_VIEWS:
    from bench.views import ConstantView

    urlpatterns.append(path("bench/constant/", ConstantView.as_view()))
