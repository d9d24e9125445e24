from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone


class HubUserManager(UserManager):
    """Every way of creating a user (sign-up, ``createsuperuser``, the admin)
    also gives it the namespace of its username."""

    def _create_user(self, username, email, password, **extra_fields):
        from .services import user_namespace_create

        user = super()._create_user(username, email, password, **extra_fields)
        user_namespace_create(user=user)
        return user


class User(AbstractUser):
    objects = HubUserManager()


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"


class Namespace(models.Model):
    """The first component of a repository name. Users and organizations
    share one space of names, so each owns exactly one row here."""

    class Kind(models.TextChoices):
        USER = "user"
        ORGANIZATION = "organization"

    name = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="namespace",
    )
    # What a repository created by a push, with no visibility chosen, gets.
    default_visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    # Bytes its repositories may store, set by staff: empty for the default
    # (HUB_NAMESPACE_QUOTA_BYTES), 0 for no limit.
    storage_quota_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Bytes this namespace may store. Empty: the site's default; 0: no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name

    @property
    def quota_bytes(self):
        """The bytes this namespace may store, or None for no limit."""
        quota = self.storage_quota_bytes
        if quota is None:
            quota = settings.HUB_NAMESPACE_QUOTA_BYTES
        return quota or None


class Organization(models.Model):
    namespace = models.OneToOneField(
        Namespace, on_delete=models.CASCADE, related_name="organization"
    )
    display_name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    members_can_create_repositories = models.BooleanField(default=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.namespace.name

    @property
    def name(self):
        return self.namespace.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MEMBER = "member"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"


class Team(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="team_unique_name")
        ]

    def __str__(self):
        return f"{self.organization}/{self.name}"


class AccessTokenQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, parent__revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class AccessToken(models.Model):
    """A personal access token, or the refresh token a registry client keeps
    after `docker login`. Only a hash of the secret is stored."""

    class Scope(models.TextChoices):
        # What each may do, surface by surface, is permissions.SCOPE_ALLOWS.
        READ = "read", "Read: pull and browse"
        WRITE = "write", "Write: also push and tag"
        FULL = "full", "Full: also delete, and change settings"

    class Kind(models.TextChoices):
        PERSONAL = "personal"
        REFRESH = "refresh"
        # Minted for one automated build: short-lived, limited to one repository.
        BUILD = "build"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERSONAL)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.READ)
    # The first characters of the secret, shown so people can tell tokens apart.
    prefix = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # "namespace/name": the token reaches this repository and no other (beyond
    # what anyone may read). Empty: every repository its user can reach.
    repository_name = models.CharField(max_length=512, blank=True)
    # The token this one was made from (a refresh token from a `docker login`
    # with an access token): it can do no more than its parent, and dies with it.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = AccessTokenQuerySet.as_manager()

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self):
        if self.revoked_at is not None:
            return False
        if self.parent_id is not None and not self.parent.is_active:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
