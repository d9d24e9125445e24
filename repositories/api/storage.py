"""Storage used by a user's or an organization's repositories, and its quota:
/api/v1/users/<username>/storage/ and /api/v1/orgs/<name>/storage/. Its
owners read it; staff also set the namespace's own quota."""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as account_services
from accounts.api_auth import api_actor
from accounts.models import Namespace

from .. import permissions, usage


class NamespaceStorageSerializer(serializers.Serializer):
    namespace = serializers.CharField(source="name", read_only=True)
    storage_bytes = serializers.IntegerField(
        read_only=True, help_text="Bytes its repositories store, each blob counted once."
    )
    quota_bytes = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Bytes it may store (its own quota, else the site's default); null: no limit.",
    )
    storage_quota_bytes = serializers.IntegerField(
        min_value=0,
        allow_null=True,
        help_text="Its own quota, set by staff: null for the site's default, 0 for no limit.",
    )


@extend_schema(tags=["storage"])
class NamespaceStorage(APIView):
    http_method_names = ["get", "patch", "head", "options"]
    serializer_class = NamespaceStorageSerializer
    # Set by the route: which kind of namespace, named by which URL argument.
    kind = Namespace.Kind.USER
    namespace_kwarg = "username"

    def _namespace(self):
        """The namespace, if the caller may administer it; to anyone else
        it is missing, as a private repository is."""
        namespace = get_object_or_404(
            Namespace, name=self.kwargs[self.namespace_kwarg], kind=self.kind
        )
        if not permissions.can(api_actor(self.request), namespace, permissions.ADMIN):
            raise exceptions.NotFound
        return namespace

    def _render(self, namespace):
        namespace.storage_bytes = usage.namespace_usage(namespace)
        return Response(NamespaceStorageSerializer(namespace).data)

    def get(self, request, **kwargs):
        return self._render(self._namespace())

    def patch(self, request, **kwargs):
        namespace = self._namespace()
        if not permissions.acting_user(api_actor(request)).is_staff:
            raise exceptions.PermissionDenied("Only staff may change a storage quota.")
        data = NamespaceStorageSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "storage_quota_bytes" in data.validated_data:
            try:
                namespace = account_services.namespace_quota_set(
                    namespace=namespace,
                    storage_quota_bytes=data.validated_data["storage_quota_bytes"],
                )
            except ValidationError as exc:
                raise exceptions.ValidationError({"storage_quota_bytes": exc.messages}) from None
        return self._render(namespace)
