"""/v1/: only what `docker search` needs (see v1.py)."""

from django.urls import path

from . import v1

urlpatterns = [
    path("_ping", v1.ping, name="v1-ping"),
    path("search", v1.search, name="v1-search"),
]
