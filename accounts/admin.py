from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Namespace, User

admin.site.register(User, UserAdmin)


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "created_at")
    search_fields = ("name",)
