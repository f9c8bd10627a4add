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
]

if settings.API_BENCHMARK_VIEWS:
    from bench.views import ConstantView

    urlpatterns.append(path("bench/constant/", ConstantView.as_view()))
