"""Automated builds: a repository's build settings and rules, the webhook
deliveries that arrive for it, and the builds they queue.

Secrets Hub must read back (the webhook secret, the deploy key, build
variables) are encrypted with ``accounts.crypto``; the trigger token, which
Hub only verifies, is kept as a hash."""

import uuid

from django.conf import settings
from django.db import models

from accounts import crypto

from . import rules


class Provider(models.TextChoices):
    GITHUB = "github", "GitHub"
    BITBUCKET = "bitbucket", "Bitbucket"
    GIT = "git", "Git URL"


class SourceType(models.TextChoices):
    BRANCH = rules.BRANCH, "Branch"
    TAG = rules.TAG, "Tag"


class BuildSettings(models.Model):
    """One per repository: where its source lives and how webhooks reach it."""

    repository = models.OneToOneField(
        "repositories.Repository", on_delete=models.CASCADE, related_name="build_settings"
    )
    # The public part of the webhook URLs; knowing it grants nothing without the secret.
    hook_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # "owner/name" at GitHub or Bitbucket, or a git URL.
    source = models.CharField(max_length=1000)
    default_branch = models.CharField(max_length=255, default="main")
    # Whose linked account reaches the provider's API (None for a git URL).
    linked_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    webhook_secret_encrypted = models.TextField()
    # The provider's id of the webhook Hub installed, to remove it again.
    provider_webhook_id = models.CharField(max_length=255, blank=True)
    trigger_token_hash = models.CharField(max_length=64, blank=True)
    deploy_key_public = models.TextField(blank=True)
    deploy_key_private_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "build settings"

    def __str__(self):
        return f"Builds of {self.repository_id} from {self.provider}:{self.source}"

    @property
    def webhook_secret(self):
        return crypto.decrypt(self.webhook_secret_encrypted)

    @property
    def deploy_key_private(self):
        if not self.deploy_key_private_encrypted:
            return ""
        return crypto.decrypt(self.deploy_key_private_encrypted)


class BuildVariable(models.Model):
    """A build-time variable. Write-only: the value is never shown or logged."""

    settings = models.ForeignKey(BuildSettings, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=255)
    value_encrypted = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["settings", "name"], name="build_variable_unique")
        ]

    def __str__(self):
        return self.name  # never the value

    @property
    def value(self):
        return crypto.decrypt(self.value_encrypted)


class BuildRule(models.Model):
    settings = models.ForeignKey(BuildSettings, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    source_type = models.CharField(
        max_length=16, choices=SourceType.choices, default=SourceType.BRANCH
    )
    # A branch or tag name, or a /regex/ that must match the whole name.
    source = models.CharField(max_length=255)
    # Comma-separated: fixed names, {sourceref}, {\1}…{\9}.
    docker_tag = models.CharField(max_length=255, default="latest")
    # Both relative to the checkout's root; "/" is the root itself.
    dockerfile = models.CharField(max_length=1000, default="Dockerfile")
    context = models.CharField(max_length=1000, default="/")
    autobuild = models.BooleanField(default=True)
    cache = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self):
        return f"{self.source_type} {self.source} → {self.docker_tag}"


class WebhookDelivery(models.Model):
    """A verified delivery to a build webhook. Its (settings, delivery id)
    is unique, which is what keeps a redelivered event from building twice."""

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Builds queued"
        IGNORED = "ignored", "Nothing to build"

    settings = models.ForeignKey(BuildSettings, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16)  # github, bitbucket, generic
    event = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["settings", "delivery_id"], name="webhook_delivery_unique"
            )
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.kind} {self.delivery_id}: {self.outcome}"


class Build(models.Model):
    class Phase(models.TextChoices):
        QUEUED = "queued", "Queued"
        CLONING = "cloning", "Cloning"
        BUILDING = "building", "Building"
        PUSHING = "pushing", "Pushing"
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINISHED_PHASES = (Phase.SUCCESS, Phase.FAILED, Phase.CANCELED)

    class Trigger(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        TRIGGER_URL = "trigger_url", "Trigger URL"
        MANUAL = "manual", "Manual"
        REPOSITORY_LINK = "repository_link", "Repository link"

    repository = models.ForeignKey(
        "repositories.Repository", on_delete=models.CASCADE, related_name="builds"
    )
    settings = models.ForeignKey(BuildSettings, on_delete=models.CASCADE, related_name="builds")
    rule = models.ForeignKey(
        BuildRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="builds"
    )
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="builds"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    source_type = models.CharField(max_length=16, choices=SourceType.choices)
    source_ref = models.CharField(max_length=255)
    # Empty until the clone tells, for a trigger that named only a branch.
    commit_sha = models.CharField(max_length=64, blank=True)
    commit_message = models.TextField(blank=True)
    tags = models.JSONField(default=list)
    # The rule's values when the build was queued: editing a rule later
    # does not change what a queued build does.
    dockerfile = models.CharField(max_length=1000, default="Dockerfile")
    context = models.CharField(max_length=1000, default="/")
    cache = models.BooleanField(default=True)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.QUEUED)
    queued_at = models.DateTimeField(auto_now_add=True)
    cloning_at = models.DateTimeField(null=True, blank=True)
    building_at = models.DateTimeField(null=True, blank=True)
    pushing_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    log = models.TextField(blank=True)
    log_truncated = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True)
    image_digest = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [models.Index(fields=["repository", "-queued_at"], name="build_timeline")]
        constraints = [
            # One delivery queues at most one build per rule and pushed ref.
            models.UniqueConstraint(
                fields=["delivery", "rule", "source_type", "source_ref"],
                condition=models.Q(delivery__isnull=False, rule__isnull=False),
                name="build_unique_per_delivery_rule",
            )
        ]

    def __str__(self):
        return f"Build {self.pk} of {self.source_type} {self.source_ref}: {self.phase}"

    @property
    def is_finished(self):
        return self.phase in self.FINISHED_PHASES

    @property
    def short_sha(self):
        return self.commit_sha[:7]
