from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView, TemplateView

from accounts.token_views import tokens

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    # Our pages name their icon (base.html); the admin, the API docs and downloads do not,
    # and browsers then ask for this. Resolved when asked: the hashed name of a production
    # build exists only after collectstatic. Temporary, as the hashed name changes.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("img/favicon.svg"))),
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
