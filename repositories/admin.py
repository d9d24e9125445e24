from django import forms
from django.contrib import admin

from . import immutability, services
from .models import Collaborator, ImmutableTagRule, Manifest, Repository, Tag, TeamAccess

# What repository_update may change; the rest comes from pushes and counters.
EDITABLE_REPOSITORY_FIELDS = ("description", "full_description", "visibility", "is_official")


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "visibility",
        "is_official",
        "is_automated",
        "star_count",
        "pull_count",
        "updated_at",
    )
    list_editable = ("is_official",)
    list_filter = ("visibility", "is_official", "is_automated")
    search_fields = ("name", "namespace__name", "description")
    list_select_related = ("namespace",)
    fields = (
        "namespace",
        "name",
        *EDITABLE_REPOSITORY_FIELDS,
        "is_automated",
        "star_count",
        "pull_count",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "namespace",
        "name",
        "is_automated",
        "star_count",
        "pull_count",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        # Repositories are created by a push (or by their owners on the site).
        return False

    def save_model(self, request, obj, form, change):
        # Through the service, which also drops the registry's cached copy.
        changes = {
            field: form.cleaned_data[field]
            for field in form.changed_data
            if field in EDITABLE_REPOSITORY_FIELDS
        }
        if changes:
            services.repository_update(repository=obj, **changes)

    def delete_model(self, request, obj):
        services.repository_delete(repository=obj)

    def delete_queryset(self, request, queryset):
        for repository in queryset.select_related("namespace"):
            services.repository_delete(repository=repository)


class GrantForm(forms.ModelForm):
    """Checks a new grant as its service will."""

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            subjects = {field: cleaned.get(field) for field in self.check_fields}
            if all(subjects.values()):
                self.grant_check(**subjects)
        return cleaned


class _GrantAdmin(admin.ModelAdmin):
    """Grants are written by the services; what a grant is about is fixed once
    it exists, only its permission changes."""

    subject_fields = ()

    def get_readonly_fields(self, request, obj=None):
        return self.subject_fields if obj is not None else ()

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(
            "CheckedGrantForm",
            (GrantForm, form),
            {"check_fields": self.subject_fields, "grant_check": staticmethod(self.grant_check)},
        )

    def save_model(self, request, obj, form, change):
        subjects = {field: getattr(obj, field) for field in self.subject_fields}
        obj.pk = self.grant(**subjects, permission=obj.permission).pk


@admin.register(Collaborator)
class CollaboratorAdmin(_GrantAdmin):
    list_display = ("user", "repository", "permission", "created_at")
    list_filter = ("permission",)
    search_fields = ("user__username", "repository__name", "repository__namespace__name")
    list_select_related = ("user", "repository__namespace")
    raw_id_fields = ("user", "repository")
    subject_fields = ("repository", "user")
    grant_check = staticmethod(services.collaborator_check)
    grant = staticmethod(services.collaborator_set)

    def delete_model(self, request, obj):
        services.collaborator_remove(repository=obj.repository, user=obj.user)


@admin.register(TeamAccess)
class TeamAccessAdmin(_GrantAdmin):
    list_display = ("team", "repository", "permission")
    list_filter = ("permission",)
    search_fields = ("team__name", "repository__name", "repository__namespace__name")
    list_select_related = ("team__organization__namespace", "repository__namespace")
    raw_id_fields = ("team", "repository")
    subject_fields = ("team", "repository")
    grant_check = staticmethod(services.team_access_check)
    grant = staticmethod(services.team_access_set)

    def delete_model(self, request, obj):
        services.team_access_remove(team=obj.team, repository=obj.repository)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "repository", "pushed_at")
    search_fields = ("name", "repository__name")
    raw_id_fields = ("repository", "manifest", "pushed_by")


@admin.register(Manifest)
class ManifestAdmin(admin.ModelAdmin):
    list_display = ("digest", "repository", "media_type", "size", "created_at")
    search_fields = ("digest",)
    raw_id_fields = ("repository",)
    exclude = ("payload",)


class ImmutableTagRuleForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("repository")) == bool(cleaned.get("namespace")):
            raise forms.ValidationError("Choose a repository or a namespace, not both.")
        return cleaned


@admin.register(ImmutableTagRule)
class ImmutableTagRuleAdmin(admin.ModelAdmin):
    """Rules are added and removed through their services; a rule's pattern
    and owner are fixed once it exists."""

    form = ImmutableTagRuleForm
    list_display = ("pattern", "repository", "namespace", "created_by", "created_at")
    search_fields = (
        "pattern",
        "repository__name",
        "repository__namespace__name",
        "namespace__name",
    )
    list_select_related = ("repository__namespace", "namespace", "created_by")
    raw_id_fields = ("repository", "namespace")
    fields = ("repository", "namespace", "pattern", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("repository", "namespace", "pattern", "created_by", "created_at")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.pk = immutability.rule_create(
                repository=obj.repository,
                namespace=obj.namespace,
                pattern=obj.pattern,
                creator=request.user,
            ).pk

    def delete_model(self, request, obj):
        immutability.rule_delete(rule=obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            immutability.rule_delete(rule=rule)
