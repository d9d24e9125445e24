"""/v2/ routes. Names are captured loosely and checked in the views, so a
bad name gets NAME_INVALID rather than a bare 404."""

from django.urls import re_path

from . import blobs, catalog, manifests, referrers, tags, uploads, views

app_name = "registry"

NAME = r"(?P<name>[^?#]+?)"

urlpatterns = [
    re_path(r"^$", views.api_root, name="root"),
    re_path(r"^_catalog$", catalog.catalog, name="catalog"),
    re_path(rf"^{NAME}/blobs/uploads/?$", uploads.upload_start, name="upload_start"),
    re_path(rf"^{NAME}/blobs/uploads/(?P<upload_id>[^/]+)$", uploads.upload, name="upload"),
    re_path(rf"^{NAME}/blobs/(?P<digest>[^/]+)$", blobs.blob, name="blob"),
    re_path(rf"^{NAME}/manifests/(?P<reference>[^/]+)$", manifests.manifest, name="manifest"),
    re_path(rf"^{NAME}/tags/list$", tags.tags_list, name="tags"),
    re_path(rf"^{NAME}/referrers/(?P<digest>[^/]+)$", referrers.referrers, name="referrers"),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
