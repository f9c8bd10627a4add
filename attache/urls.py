from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
]

handler400 = "attache.views.bad_request"
handler403 = "attache.views.permission_denied"
handler404 = "attache.views.page_not_found"
handler500 = "attache.views.server_error"
