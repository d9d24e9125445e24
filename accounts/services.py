"""Every change to users, organizations, teams and access tokens."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from .models import AccessToken, Membership, Namespace, Organization, Team, Visibility
from .names import validate_namespace_name

TOKEN_PREFIX = "hub_pat_"
REFRESH_PREFIX = "hub_rt_"
BUILD_PREFIX = "hub_bld_"
TOKEN_PREFIXES = {
    AccessToken.Kind.PERSONAL: TOKEN_PREFIX,
    AccessToken.Kind.REFRESH: REFRESH_PREFIX,
    AccessToken.Kind.BUILD: BUILD_PREFIX,
}


def namespace_name_check(*, name):
    """Raise ValidationError unless ``name`` may become a new namespace."""
    validate_namespace_name(name)
    if Namespace.objects.filter(name=name).exists():
        raise ValidationError(f"The name “{name}” is already taken.", code="taken")


@transaction.atomic
def user_namespace_create(*, user):
    """Give a new user the namespace of its username."""
    namespace, _ = Namespace.objects.get_or_create(
        name=user.username, defaults={"kind": Namespace.Kind.USER, "user": user}
    )
    return namespace


@transaction.atomic
def organization_create(*, name, owner, display_name="", description=""):
    namespace_name_check(name=name)
    namespace = Namespace.objects.create(name=name, kind=Namespace.Kind.ORGANIZATION)
    organization = Organization.objects.create(
        namespace=namespace, display_name=display_name, description=description
    )
    Membership.objects.create(organization=organization, user=owner, role=Membership.Role.OWNER)
    return organization


@transaction.atomic
def staff_namespace_get_or_create(*, name):
    """A namespace that staff push into without creating it first (``library``)."""
    namespace = Namespace.objects.filter(name=name).first()
    if namespace is None:
        namespace = Namespace.objects.create(name=name, kind=Namespace.Kind.ORGANIZATION)
        Organization.objects.create(namespace=namespace)
    return namespace


def _lock(organization):
    """Serialize changes to one organization's owners, so two owners cannot
    demote or remove each other at once and leave it with none."""
    Organization.objects.select_for_update().filter(pk=organization.pk).first()


@transaction.atomic
def membership_set(*, organization, user, role):
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role “{role}”.", code="role")
    _lock(organization)
    owners = organization.memberships.filter(role=Membership.Role.OWNER)
    if role != Membership.Role.OWNER and owners.filter(user=user).exists() and owners.count() == 1:
        raise ValidationError("An organization needs at least one owner.", code="last_owner")
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def membership_remove(*, organization, user):
    _lock(organization)
    owners = organization.memberships.filter(role=Membership.Role.OWNER)
    if owners.filter(user=user).exists() and owners.count() == 1:
        raise ValidationError("An organization needs at least one owner.", code="last_owner")
    Membership.objects.filter(organization=organization, user=user).delete()
    for team in organization.teams.filter(members=user):
        team.members.remove(user)


@transaction.atomic
def team_create(*, organization, name, description=""):
    if organization.teams.filter(name=name).exists():
        raise ValidationError(f"There is already a team called “{name}”.", code="taken")
    return Team.objects.create(organization=organization, name=name, description=description)


@transaction.atomic
def team_member_add(*, team, user):
    if not team.organization.memberships.filter(user=user).exists():
        Membership.objects.create(organization=team.organization, user=user)
    team.members.add(user)


# Access tokens ------------------------------------------------------------


def _hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def access_token_create(
    *,
    user,
    name,
    scope,
    expires_at=None,
    kind=AccessToken.Kind.PERSONAL,
    repository_name="",
    parent=None,
):
    """Create a token; returns ``(token, secret)``. The secret is shown once
    and only its hash is kept. ``repository_name`` limits it to one repository."""
    if expires_at is not None and expires_at > timezone.now() + timedelta(days=366):
        raise ValidationError("A token may not live longer than a year.", code="expiry")
    prefix = TOKEN_PREFIXES[kind]
    secret = prefix + secrets.token_urlsafe(30)
    token = AccessToken.objects.create(
        user=user,
        name=name,
        kind=kind,
        scope=scope,
        prefix=secret[: len(prefix) + 4],
        secret_hash=_hash(secret),
        expires_at=expires_at,
        repository_name=repository_name,
        parent=parent,
    )
    return token, secret


def access_token_authenticate(*, secret, kind=AccessToken.Kind.PERSONAL):
    """The active token whose secret this is, or None. Records its use (at
    most once a minute, so a busy client does not write on every request)."""
    token = (
        AccessToken.objects.active()
        .filter(secret_hash=_hash(secret), kind=kind, user__is_active=True)
        .select_related("user", "parent")
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def access_token_revoke(*, token):
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def refresh_token_create(*, user, scope, client_id="", parent=None):
    """The long-lived token a registry client keeps after logging in. Made
    from an access token (``parent``), it expires no later and dies when that
    token is revoked."""
    expires_at = timezone.now() + timedelta(days=settings.HUB_REFRESH_TOKEN_DAYS)
    if parent is not None and parent.expires_at is not None:
        expires_at = min(expires_at, parent.expires_at)
    name = f"{client_id or 'registry client'} login"
    return access_token_create(
        user=user,
        name=name,
        scope=scope,
        expires_at=expires_at,
        kind=AccessToken.Kind.REFRESH,
        parent=parent,
    )


# Settings -------------------------------------------------------------------


def _check_visibility(visibility):
    if visibility not in Visibility.values:
        raise ValidationError(f"Unknown visibility “{visibility}”.", code="visibility")


@transaction.atomic
def namespace_update(*, namespace, default_visibility):
    """What a repository created in ``namespace`` by a push gets."""
    _check_visibility(default_visibility)
    namespace.default_visibility = default_visibility
    namespace.save(update_fields=["default_visibility"])
    return namespace


@transaction.atomic
def organization_update(
    *,
    organization,
    display_name,
    description,
    members_can_create_repositories,
    default_visibility,
):
    _check_visibility(default_visibility)
    organization.display_name = display_name
    organization.description = description
    organization.members_can_create_repositories = members_can_create_repositories
    organization.save(
        update_fields=["display_name", "description", "members_can_create_repositories"]
    )
    namespace_update(namespace=organization.namespace, default_visibility=default_visibility)
    return organization


@transaction.atomic
def team_member_remove(*, team, user):
    """Take ``user`` out of ``team``; they stay a member of the organization."""
    team.members.remove(user)


@transaction.atomic
def team_delete(*, team):
    team.delete()


# Organization reads -----------------------------------------------------------


def organization_role(*, organization, user):
    """``user``'s role in ``organization`` (staff count as owners), or None."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Membership.Role.OWNER
    return organization.memberships.filter(user=user).values_list("role", flat=True).first()


def _check_member(organization, viewer):
    if organization_role(organization=organization, user=viewer) is None:
        raise PermissionDenied(f"Only members of {organization.name} can see this.")


def organization_member_list(*, organization, viewer):
    """Who belongs to ``organization``, which only its members (and staff) may see."""
    _check_member(organization, viewer)
    return organization.memberships.select_related("user").order_by("user__username")


def organization_team_list(*, organization, viewer):
    """The teams of ``organization`` with their members, for its members (and staff)."""
    _check_member(organization, viewer)
    members = get_user_model().objects.order_by("username")
    return organization.teams.prefetch_related(Prefetch("members", queryset=members)).order_by(
        "name"
    )


@transaction.atomic
def namespace_quota_set(*, namespace, storage_quota_bytes):
    """Set the bytes ``namespace`` may store: None for the site's default
    (HUB_NAMESPACE_QUOTA_BYTES), 0 for no limit. Staff only; the caller checks."""
    if storage_quota_bytes is not None and storage_quota_bytes < 0:
        raise ValidationError("A quota cannot be negative.", code="quota")
    namespace.storage_quota_bytes = storage_quota_bytes
    namespace.save(update_fields=["storage_quota_bytes"])
    return namespace
