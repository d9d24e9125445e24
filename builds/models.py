"""Automated builds: a repository's build settings and rules, the webhook
deliveries that arrive for it, and the builds they queue.

Secrets Hub must read back (the webhook secret, the deploy key, build
variables) are encrypted with ``accounts.crypto``; the trigger token, which
Hub only verifies, is kept as a hash."""

import uuid

from django.conf import settings as django_settings
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
        django_settings.AUTH_USER_MODEL,
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
    # Whose rights an automated build pushes with (through a token limited to
    # this repository that lives as long as the build).
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
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
    # Who pressed Trigger or Retry (None for webhooks, trigger URLs and links).
    requested_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )
    # The repository whose push started a repository-link build.
    linked_from = models.CharField(max_length=512, blank=True)
    # The rule's values when the build was queued: editing a rule later
    # does not change what a queued build does.
    dockerfile = models.CharField(max_length=1000, default="Dockerfile")
    context = models.CharField(max_length=1000, default="/")
    cache = models.BooleanField(default=True)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.QUEUED)
    queued_at = models.DateTimeField(auto_now_add=True)
    # Handed to a worker; a queued build without it waits for a limit.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Why a queued build has not been handed to a worker yet.
    waiting_reason = models.CharField(max_length=255, blank=True)
    cloning_at = models.DateTimeField(null=True, blank=True)
    building_at = models.DateTimeField(null=True, blank=True)
    pushing_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker running the build and when it last said it was alive; the
    # reaper fails a running build whose heartbeat stopped.
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    log_size = models.PositiveBigIntegerField(default=0)
    log_truncated = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True)
    # The build step that failed ("STEP 3/5: RUN make"), shown first.
    failed_step = models.TextField(blank=True)
    image_digest = models.CharField(max_length=255, blank=True)
    image_size = models.PositiveBigIntegerField(null=True, blank=True)

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

    def log_text(self, after_seq=-1):
        """The log, or the part of it after chunk ``after_seq``."""
        chunks = self.log_chunks.filter(seq__gt=after_seq).order_by("seq")
        return "".join(chunks.values_list("text", flat=True))

    @property
    def duration(self):
        """From the start of the clone to the end, or None before either."""
        if self.cloning_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.cloning_at


class BuildLogChunk(models.Model):
    """A piece of a build's log, in order. Appending is an insert, and a
    page following a running build asks only for the chunks after the last
    one it has."""

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["build", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["build", "seq"], name="build_log_chunk_unique")
        ]


class BuildLink(models.Model):
    """A repository link: a push to ``upstream`` (a base image, say) builds
    this repository's autobuild branch rules."""

    settings = models.ForeignKey(BuildSettings, on_delete=models.CASCADE, related_name="links")
    upstream = models.ForeignKey(
        "repositories.Repository", on_delete=models.CASCADE, related_name="downstream_links"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["settings", "upstream"], name="build_link_unique")
        ]

    def __str__(self):
        return f"{self.upstream_id} → {self.settings_id}"


class RepositoryWebhook(models.Model):
    """An outgoing webhook: Hub POSTs Docker Hub's payload to ``url`` after
    every push to the repository, signed with ``secret`` when there is one."""

    repository = models.ForeignKey(
        "repositories.Repository", on_delete=models.CASCADE, related_name="webhooks"
    )
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    secret_encrypted = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self):
        return f"{self.name} → {self.url}"

    @property
    def secret(self):
        if not self.secret_encrypted:
            return ""
        return crypto.decrypt(self.secret_encrypted)


class RepositoryWebhookDelivery(models.Model):
    """One event sent (or being sent) to a repository webhook, with its attempts' outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCESS = "success", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(
        RepositoryWebhook, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=32, default="push")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The start of the answer, or why there was none.
    response_excerpt = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # While pending: when the next attempt is due (while one is under way,
    # when it will be over at the latest). One overdue by
    # HUB_WEBHOOK_REDISPATCH_SECONDS lost its message and is sent again.
    # None once delivered or failed.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_due",
            )
        ]
        verbose_name_plural = "repository webhook deliveries"

    def __str__(self):
        return f"{self.event} to {self.webhook_id}: {self.status}"
