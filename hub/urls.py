from django.contrib import admin
from django.urls import include, path

from repositories import views as repository_views

urlpatterns = [
    path("", repository_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("v2/", include("repositories.registry.urls")),
]
