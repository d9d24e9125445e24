from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Visibility

from .. import immutability, permissions, usage
from ..models import ImmutableTagRule, Repository, Tag
from .filters import BEST, SORTS


class RepositorySerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.name", read_only=True)
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Repository
        fields = [
            "namespace",
            "name",
            "full_name",
            "visibility",
            "description",
            "is_official",
            "is_automated",
            "star_count",
            "pull_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class Permissions(serializers.Serializer):
    pull = serializers.BooleanField()
    push = serializers.BooleanField()
    delete = serializers.BooleanField()
    admin = serializers.BooleanField(help_text="Change the repository's settings.")


class RepositoryDetailSerializer(RepositorySerializer):
    permissions = serializers.SerializerMethodField(
        help_text="What the caller (with its token's scope) may do."
    )
    storage_bytes = serializers.SerializerMethodField(
        help_text="Bytes the repository stores: its blobs, each once, and its manifests."
    )

    class Meta(RepositorySerializer.Meta):
        fields = [
            *RepositorySerializer.Meta.fields,
            "full_description",
            "permissions",
            "storage_bytes",
        ]
        read_only_fields = fields

    def get_storage_bytes(self, repository) -> int:
        return usage.repository_usage(repository)

    @extend_schema_field(Permissions)
    def get_permissions(self, repository):
        allowed = permissions.allowed_actions(self.context["actor"], repository)
        return {action: action in allowed for action in permissions.ACTIONS}


class RepositoryCreateSerializer(serializers.Serializer):
    namespace = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255)
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        help_text="By default, the namespace's default visibility.",
    )
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    full_description = serializers.CharField(required=False, allow_blank=True)


class RepositoryUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    full_description = serializers.CharField(required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    is_official = serializers.BooleanField(required=False, help_text="Staff only.")


class NamespaceRepositoryListQuery(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="Search words."
    )
    official = serializers.BooleanField(required=False, allow_null=True, default=None)
    automated = serializers.BooleanField(required=False, allow_null=True, default=None)
    sort = serializers.ChoiceField(choices=list(SORTS.items()), required=False, default=BEST)


class RepositoryListQuery(NamespaceRepositoryListQuery):
    namespace = serializers.CharField(
        required=False, max_length=255, help_text="Only this user's or organization's."
    )


class Platform(serializers.Serializer):
    os = serializers.CharField()
    architecture = serializers.CharField()
    variant = serializers.CharField(required=False)


class TagSerializer(serializers.ModelSerializer):
    digest = serializers.CharField(source="manifest.digest")
    media_type = serializers.CharField(source="manifest.media_type")
    compressed_size = serializers.IntegerField(
        source="manifest.layers_size", help_text="Bytes of the compressed layers."
    )
    platforms = serializers.ListField(child=Platform(), source="manifest.platforms")
    pushed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    immutable = serializers.SerializerMethodField(
        help_text="Whether an immutability rule of the repository or its namespace "
        "protects the tag: it can be neither moved to another image nor deleted."
    )

    class Meta:
        model = Tag
        fields = [
            "name",
            "digest",
            "media_type",
            "compressed_size",
            "platforms",
            "pushed_at",
            "pushed_by",
            "immutable",
        ]
        read_only_fields = fields

    def get_immutable(self, tag) -> bool:
        # A list view passes the repository's rules once for the whole page.
        rules = self.context.get("immutable_rules")
        if rules is None:
            rules = list(immutability.rules_for(tag.repository))
        return immutability.first_match(rules, tag.name) is not None


class StarSerializer(serializers.Serializer):
    starred = serializers.BooleanField(help_text="Whether the caller has starred it.")
    star_count = serializers.IntegerField()


class ImmutableTagRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ImmutableTagRule
        fields = ["id", "pattern", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]
