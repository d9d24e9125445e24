"""REST API views for repositories, tags and stars. Reads go through
querysets (visible_to), writes through services, and every decision through
permissions.can with the caller's actor (a user, or the token it used)."""

import functools

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import api_actor
from accounts.models import Namespace

from .. import immutability, permissions, services
from ..models import ImmutableTagRule, Repository, Tag
from . import serializers
from .filters import repositories_matching, search_page
from .pagination import RepositoryPagination


def _repository_or_404(request, namespace, name):
    """The repository if the caller may see it; a private one it may not see
    is answered like a missing one, so neither is revealed."""
    repository = (
        Repository.objects.visible_to(api_actor(request))
        .select_related("namespace")
        .filter(namespace__name=namespace, name=name)
        .first()
    )
    if repository is None:
        raise Http404
    return repository


def _repository_url(repository):
    return reverse(
        "api:repository", kwargs={"namespace": repository.namespace.name, "name": repository.name}
    )


def _require(allowed, message):
    if not allowed:
        raise exceptions.PermissionDenied(message)


@extend_schema(tags=["repositories"])
class RepositoryList(generics.ListAPIView):
    """Repositories the caller may see, filtered, searched and sorted."""

    serializer_class = serializers.RepositorySerializer
    pagination_class = RepositoryPagination
    query_serializer = serializers.RepositoryListQuery

    def get_serializer_class(self):
        if self.request.method == "POST":  # the browsable API's form
            return serializers.RepositoryCreateSerializer
        return super().get_serializer_class()

    @functools.cached_property
    def query(self):
        # A plain dict: from a QueryDict, a missing boolean would read as False.
        params = self.query_serializer(data=self.request.query_params.dict())
        params.is_valid(raise_exception=True)
        return {**params.validated_data, "namespace": self.namespace_of(params.validated_data)}

    def namespace_of(self, params):
        return params.get("namespace")

    def get_queryset(self):
        query = self.query
        return repositories_matching(
            actor=api_actor(self.request),
            query=query.get("q", ""),
            namespace=query["namespace"],
            official=query["official"],
            automated=query["automated"],
            sort=query["sort"],
        )

    @extend_schema(parameters=[serializers.RepositoryListQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        query = self.query
        if not query.get("q") or query["namespace"]:
            return super().list(request, *args, **kwargs)
        found = self.paginator.paginate_search(
            functools.partial(
                search_page,
                actor=api_actor(request),
                query=query["q"],
                official=query["official"],
                automated=query["automated"],
                sort=query["sort"],
            ),
            request,
        )
        return self.get_paginated_response(self.get_serializer(found, many=True).data)

    @extend_schema(
        request=serializers.RepositoryCreateSerializer,
        responses={201: serializers.RepositoryDetailSerializer},
    )
    def post(self, request):
        data = serializers.RepositoryCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        namespace = Namespace.objects.filter(name=fields.pop("namespace")).first()
        if namespace is None:
            raise exceptions.ValidationError({"namespace": ["There is no such namespace."]})
        _require(
            permissions.can(api_actor(request), namespace, permissions.PUSH),
            f"You cannot create repositories in {namespace.name}.",
        )
        try:
            repository = services.repository_create(namespace=namespace, **fields)
        except services.RepositoryInvalid as exc:
            raise exceptions.ValidationError({"name": [str(exc)]}) from None
        body = serializers.RepositoryDetailSerializer(
            repository, context={"actor": api_actor(request)}
        ).data
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={"Location": _repository_url(repository)},
        )


@extend_schema(tags=["repositories"])
class NamespaceRepositoryList(RepositoryList):
    """The repositories of one user or organization that the caller may see."""

    http_method_names = ["get", "head", "options"]
    query_serializer = serializers.NamespaceRepositoryListQuery
    # Set by the route: which kind of namespace, named by which URL argument.
    kind = Namespace.Kind.USER
    namespace_kwarg = "username"

    def namespace_of(self, params):
        namespace = get_object_or_404(
            Namespace, name=self.kwargs[self.namespace_kwarg], kind=self.kind
        )
        return namespace.name

    @extend_schema(parameters=[serializers.NamespaceRepositoryListQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["repositories"])
class RepositoryDetail(APIView):
    http_method_names = ["get", "patch", "delete", "head", "options"]
    serializer_class = serializers.RepositoryDetailSerializer

    def _render(self, repository):
        context = {"actor": api_actor(self.request), "request": self.request}
        return Response(serializers.RepositoryDetailSerializer(repository, context=context).data)

    def get(self, request, namespace, name):
        return self._render(_repository_or_404(request, namespace, name))

    @extend_schema(
        request=serializers.RepositoryUpdateSerializer,
        responses={200: serializers.RepositoryDetailSerializer},
    )
    def patch(self, request, namespace, name):
        repository = _repository_or_404(request, namespace, name)
        _require(
            permissions.can(api_actor(request), repository, permissions.ADMIN),
            "Only the repository's admins may change it, with a full-scope token or a "
            "browser session.",
        )
        data = serializers.RepositoryUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = data.validated_data
        if "is_official" in changes:
            _require(
                permissions.acting_user(api_actor(request)).is_staff,
                "Only staff may mark a repository official.",
            )
        if changes:
            repository = services.repository_update(repository=repository, **changes)
        return self._render(repository)

    @extend_schema(responses={204: None})
    def delete(self, request, namespace, name):
        repository = _repository_or_404(request, namespace, name)
        _require(
            permissions.can(api_actor(request), repository, permissions.DELETE),
            "You may not delete this repository.",
        )
        services.repository_delete(repository=repository)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["repositories"])
class TagList(generics.ListAPIView):
    """The repository's tags, the most recently pushed first."""

    serializer_class = serializers.TagSerializer

    def get_queryset(self):
        repository = _repository_or_404(self.request, self.kwargs["namespace"], self.kwargs["name"])
        self.repository = repository
        return (
            Tag.objects.filter(repository=repository)
            .select_related("manifest", "pushed_by")
            .order_by("-pushed_at", "name")
        )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self, "repository"):
            context["immutable_rules"] = list(immutability.rules_for(self.repository))
        return context


@extend_schema(tags=["repositories"])
class TagDetail(APIView):
    http_method_names = ["get", "delete", "head", "options"]
    serializer_class = serializers.TagSerializer

    def _tag(self, repository, tag):
        return get_object_or_404(
            Tag.objects.select_related("manifest", "pushed_by"), repository=repository, name=tag
        )

    def get(self, request, namespace, name, tag):
        repository = _repository_or_404(request, namespace, name)
        return Response(serializers.TagSerializer(self._tag(repository, tag)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, namespace, name, tag):
        repository = _repository_or_404(request, namespace, name)
        _require(
            permissions.can(api_actor(request), repository, permissions.DELETE),
            "You may not delete tags of this repository.",
        )
        self._tag(repository, tag)
        try:
            services.tag_delete(repository=repository, name=tag)
        except services.TagImmutable as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImmutableTagRuleList(APIView):
    """Immutable-tag rules: list them (GET) or add one (POST). A tag that a
    rule matches can be neither pushed over with another image nor deleted."""

    http_method_names = ["get", "post", "head", "options"]
    serializer_class = serializers.ImmutableTagRuleSerializer

    # owner(), from RepositoryRules or NamespaceRules, is {"repository": ...}
    # or {"namespace": ...}, once the caller may administer it.

    def get(self, request, **kwargs):
        rules = _rules_of(self.owner()).select_related("created_by")
        return Response(serializers.ImmutableTagRuleSerializer(rules, many=True).data)

    @extend_schema(responses={201: serializers.ImmutableTagRuleSerializer})
    def post(self, request, **kwargs):
        owner = self.owner()
        data = serializers.ImmutableTagRuleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            rule = immutability.rule_create(
                **owner,
                pattern=data.validated_data["pattern"],
                creator=permissions.acting_user(api_actor(request)),
            )
        except ValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        return Response(
            serializers.ImmutableTagRuleSerializer(rule).data, status=status.HTTP_201_CREATED
        )


class ImmutableTagRuleDetail(APIView):
    http_method_names = ["get", "delete", "head", "options"]
    serializer_class = serializers.ImmutableTagRuleSerializer

    def _rule(self):
        return get_object_or_404(_rules_of(self.owner()), pk=self.kwargs["pk"])

    def get(self, request, **kwargs):
        return Response(serializers.ImmutableTagRuleSerializer(self._rule()).data)

    @extend_schema(responses={204: None})
    def delete(self, request, **kwargs):
        immutability.rule_delete(rule=self._rule())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _rules_of(owner):
    return ImmutableTagRule.objects.filter(**owner).order_by("pattern")


class RepositoryRules:
    """The rules of one repository, for its admins."""

    def owner(self):
        repository = _repository_or_404(self.request, self.kwargs["namespace"], self.kwargs["name"])
        _require(
            permissions.can(api_actor(self.request), repository, permissions.ADMIN),
            "Only the repository's admins may see and change its immutable-tag rules, with a "
            "full-scope token or a browser session.",
        )
        return {"repository": repository}


class NamespaceRules:
    """The rules of a user's or an organization's namespace, which cover all
    its repositories: for the user, or the organization's owners."""

    kind = Namespace.Kind.USER
    namespace_kwarg = "username"

    def owner(self):
        namespace = get_object_or_404(
            Namespace, name=self.kwargs[self.namespace_kwarg], kind=self.kind
        )
        _require(
            permissions.can(api_actor(self.request), namespace, permissions.ADMIN),
            f"Only {namespace.name} (or its organization's owners) may see and change its "
            "immutable-tag rules, with a full-scope token or a browser session.",
        )
        return {"namespace": namespace}


@extend_schema(tags=["immutable tags"])
class RepositoryRuleList(RepositoryRules, ImmutableTagRuleList):
    pass


@extend_schema(tags=["immutable tags"])
class RepositoryRuleDetail(RepositoryRules, ImmutableTagRuleDetail):
    pass


@extend_schema(tags=["immutable tags"])
class NamespaceRuleList(NamespaceRules, ImmutableTagRuleList):
    pass


@extend_schema(tags=["immutable tags"])
class NamespaceRuleDetail(NamespaceRules, ImmutableTagRuleDetail):
    pass


@extend_schema(tags=["repositories"], responses=serializers.StarSerializer)
class Star(APIView):
    """Whether the caller starred the repository; PUT stars it, DELETE
    unstars it, and doing either twice changes nothing more."""

    http_method_names = ["get", "put", "delete", "head", "options"]
    serializer_class = serializers.StarSerializer

    def _render(self, request, repository):
        repository.refresh_from_db(fields=["star_count"])
        user = permissions.acting_user(api_actor(request))
        starred = user.is_authenticated and repository.stars.filter(user=user).exists()
        return Response({"starred": starred, "star_count": repository.star_count})

    def get(self, request, namespace, name):
        return self._render(request, _repository_or_404(request, namespace, name))

    @extend_schema(request=None)
    def put(self, request, namespace, name):
        repository = _repository_or_404(request, namespace, name)
        services.star_add(user=permissions.acting_user(api_actor(request)), repository=repository)
        return self._render(request, repository)

    def delete(self, request, namespace, name):
        repository = _repository_or_404(request, namespace, name)
        services.star_remove(
            user=permissions.acting_user(api_actor(request)), repository=repository
        )
        return self._render(request, repository)


@extend_schema(tags=["users"])
class StarredList(generics.ListAPIView):
    """The repositories a user starred that the caller may see, the latest star first."""

    serializer_class = serializers.RepositorySerializer
    pagination_class = RepositoryPagination

    def get_queryset(self):
        user = get_object_or_404(get_user_model(), username=self.kwargs["username"], is_active=True)
        return (
            Repository.objects.visible_to(api_actor(self.request))
            .filter(stars__user=user)
            .select_related("namespace")
            .order_by("-stars__created_at", "pk")
        )
