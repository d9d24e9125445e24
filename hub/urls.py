from django.contrib import admin
from django.urls import include, path

from accounts import token_views
from builds.urls import portal_urlpatterns as build_pages
from hub import health, metrics
from repositories import views as repository_views

urlpatterns = [
    path("-/healthy", health.healthy, name="healthy"),
    path("-/ready", health.ready, name="ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", repository_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("builds/", include("builds.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/", include("repositories.api.urls")),
    path("", include("accounts.urls")),
    # Before the repository pages: /r/<namespace>/<name>/builds/...
    path("", include(build_pages)),
    path("", include("repositories.urls")),
    path("token", token_views.token, name="registry-token"),
    path("v2/", include("repositories.registry.urls")),
    path("v1/", include("repositories.v1_urls")),
]

handler500 = "hub.views.server_error"
