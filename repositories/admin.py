from django.contrib import admin

from .models import Manifest, Repository, Tag


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
    list_filter = ("visibility", "is_official", "is_automated")
    search_fields = ("name", "namespace__name", "description")
    list_select_related = ("namespace",)


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
