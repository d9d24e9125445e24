from axes.admin import AccessAttemptAdmin
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from . import lockout, services
from .models import AccessToken, Membership, Namespace, Organization, Team, User


class HubUserCreationForm(UserAdmin.add_form):
    """The admin's "add user" form: a username is a namespace, so it follows
    the namespace rules and must not collide with an organization."""

    class Meta(UserAdmin.add_form.Meta):
        model = User

    def clean_username(self):
        username = self.cleaned_data["username"].strip().lower()
        services.namespace_name_check(name=username)
        self.cleaned_data["username"] = username
        return super().clean_username()


@admin.register(User)
class HubUserAdmin(UserAdmin):
    add_form = HubUserCreationForm

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        # The username is the namespace's name, which repositories are stored under.
        return (*readonly, "username") if obj is not None else readonly

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # The form saved the user without the manager's create_user, which
            # is what otherwise gives a user its namespace.
            services.user_namespace_create(user=obj)


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "user",
        "default_visibility",
        "storage_quota_bytes",
        "created_at",
    )
    list_filter = ("kind", "default_visibility")
    search_fields = ("name",)
    readonly_fields = ("name", "kind", "user", "created_at")

    def has_add_permission(self, request):
        # Namespaces come with their user or organization.
        return False


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        owners = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("role") == Membership.Role.OWNER
        ]
        if not owners:
            raise ValidationError("An organization needs at least one owner.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "display_name", "members_can_create_repositories", "created_at")
    list_filter = ("members_can_create_repositories",)
    search_fields = ("namespace__name", "display_name")
    list_select_related = ("namespace",)
    readonly_fields = ("namespace", "created_at")
    fields = (
        "namespace",
        "display_name",
        "description",
        "members_can_create_repositories",
        "created_at",
    )
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        # An organization needs its namespace and a first owner: /orgs/new/ makes both.
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "description", "created_at")
    search_fields = ("name", "organization__namespace__name")
    list_select_related = ("organization__namespace",)
    raw_id_fields = ("organization",)
    filter_horizontal = ("members",)


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    """Tokens are made by their users; staff can see and revoke them. The
    secret's hash is never shown."""

    list_display = (
        "name",
        "user",
        "kind",
        "scope",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "status",
    )
    list_filter = ("kind", "scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    fields = (
        "user",
        "name",
        "kind",
        "scope",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="status")
    def status(self, token):
        if token.revoked_at:
            return "revoked"
        return "active" if token.is_active else "expired"

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            services.access_token_revoke(token=token)
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


class LockedOutFilter(admin.SimpleListFilter):
    title = "locked out"
    parameter_name = "locked_out"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        locked = Q(user_failures__gte=get_failure_limit(request, None)) | Q(
            address_failures__gte=settings.HUB_LOGIN_ADDRESS_FAILURE_LIMIT
        )
        if self.value() == "yes":
            return queryset.filter(locked)
        if self.value() == "no":
            return queryset.exclude(locked)
        return queryset


# axes registers its own AccessAttempt admin, whose status counts one row
# against one limit; Hub's lockout counts per user and address and per address
# (accounts/lockout.py), so staff see and lift lockouts by those counts.
if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class HubAccessAttemptAdmin(AccessAttemptAdmin):
    list_display = (
        "username",
        "ip_address",
        "failures_since_start",
        "user_failures",
        "address_failures",
        "locked_out",
        "attempt_time",
        "user_agent",
        "path_info",
    )
    list_filter = (LockedOutFilter, "attempt_time", "path_info")
    actions = ["lift_lockout", "cleanup_expired_attempts"]

    def get_queryset(self, request):
        cool_off = get_cool_off(request)
        since = None if cool_off is None else timezone.now() - cool_off
        return lockout.with_failure_counts(super().get_queryset(request), since=since)

    @admin.display(description="failures, user at address", ordering="user_failures")
    def user_failures(self, attempt):
        return attempt.user_failures

    @admin.display(description="failures at address", ordering="address_failures")
    def address_failures(self, attempt):
        return attempt.address_failures

    @admin.display(description="locked out", boolean=True)
    def locked_out(self, attempt):
        return (
            attempt.user_failures >= get_failure_limit(None, None)
            or attempt.address_failures >= settings.HUB_LOGIN_ADDRESS_FAILURE_LIMIT
        )

    @admin.action(description="Lift the lockout", permissions=["delete"])
    def lift_lockout(self, request, queryset):
        count = lockout.lockout_lift(
            attempts=queryset, address_limit=settings.HUB_LOGIN_ADDRESS_FAILURE_LIMIT
        )
        self.message_user(
            request, f"Lifted the lockout: cleared {count} access attempt(s).", messages.SUCCESS
        )
