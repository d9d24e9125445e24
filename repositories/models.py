import uuid

from django.core.exceptions import ValidationError
from django.db import models

from accounts.models import Namespace, Team, Visibility

from .oci import tag_patterns
from .querysets import ManifestQuerySet, RepositoryQuerySet, TagQuerySet


class Repository(models.Model):
    Visibility = Visibility

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="repositories")
    name = models.CharField(max_length=255)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    description = models.CharField(max_length=255, blank=True)
    full_description = models.TextField(blank=True)
    is_official = models.BooleanField(default=False)
    is_automated = models.BooleanField(default=False)
    # Created by a push that has not pushed a manifest yet. Such a repository
    # is nobody's to see and is not in the search index, so an abandoned push
    # leaves nothing behind once the upload sweep deletes it; its first
    # manifest (or repository_create) makes it an ordinary repository.
    is_pending = models.BooleanField(default=False)
    # Counters kept by the services, so pages and search never count rows.
    star_count = models.PositiveIntegerField(default=0)
    pull_count = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    blobs = models.ManyToManyField("Blob", through="RepositoryBlob", related_name="repositories")

    objects = RepositoryQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="repository_unique_name")
        ]
        indexes = [
            # The upload sweep looks for abandoned pending repositories; they
            # are few, so the index stays small however many repositories exist.
            models.Index(
                fields=["created_at"],
                condition=models.Q(is_pending=True),
                name="repository_pending",
            ),
        ]
        verbose_name_plural = "repositories"

    def __str__(self):
        return self.full_name

    @property
    def full_name(self):
        return f"{self.namespace.name}/{self.name}"


class Star(models.Model):
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="stars")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repository"], name="star_unique")]

    def __str__(self):
        return f"{self.user} ★ {self.repository}"


class PullDay(models.Model):
    """Pulls of a repository on one day (UTC), flushed in batches."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="pull_days")
    day = models.DateField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "day"], name="pull_day_unique")
        ]

    def __str__(self):
        return f"{self.repository} {self.day}: {self.count}"


class Permission(models.TextChoices):
    """What a collaborator or a team may do with a repository."""

    READ = "read", "Read"
    WRITE = "write", "Read & write"
    ADMIN = "admin", "Admin"


class Collaborator(models.Model):
    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="collaborators"
    )
    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="collaborations"
    )
    permission = models.CharField(
        max_length=16, choices=Permission.choices, default=Permission.READ
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "user"], name="collaborator_unique")
        ]

    def __str__(self):
        return f"{self.user} on {self.repository} ({self.permission})"


class TeamAccess(models.Model):
    """A team's permission on one repository of its organization."""

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="team_accesses"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="repository_accesses")
    permission = models.CharField(
        max_length=16, choices=Permission.choices, default=Permission.READ
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "team"], name="team_access_unique")
        ]
        verbose_name_plural = "team accesses"

    def __str__(self):
        return f"{self.team} on {self.repository} ({self.permission})"


class Blob(models.Model):
    """One stored object per digest, shared by every repository that links it."""

    digest = models.CharField(max_length=255, unique=True)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.digest

    @property
    def storage_name(self):
        algorithm, encoded = self.digest.split(":", 1)
        return f"{algorithm}/{encoded[:2]}/{encoded}"


class RepositoryBlob(models.Model):
    """A repository may serve a blob only through one of these links."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "blob"], name="repository_blob_unique")
        ]


class Manifest(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="manifests")
    digest = models.CharField(max_length=255)
    media_type = models.CharField(max_length=255)
    # The exact bytes the client pushed; served byte for byte.
    payload = models.BinaryField()
    size = models.PositiveIntegerField()
    subject_digest = models.CharField(max_length=255, blank=True, db_index=True)
    artifact_type = models.CharField(max_length=255, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    # Facts for the pages: each platform the manifest serves (one for an
    # image, one per child for an index) and the compressed size of its layers.
    platforms = models.JSONField(default=list, blank=True)
    layers_size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    blobs = models.ManyToManyField(Blob, related_name="manifests", through="ManifestBlob")
    children = models.ManyToManyField(
        "self", symmetrical=False, related_name="parents", through="ManifestChild"
    )

    objects = ManifestQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="manifest_unique_digest")
        ]

    def __str__(self):
        return f"{self.repository_id}@{self.digest}"


class ManifestBlob(models.Model):
    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["manifest", "blob"], name="manifest_blob_unique")
        ]


class ManifestChild(models.Model):
    parent = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="+")
    child = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="manifest_child_unique")
        ]


class Tag(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="tags")
    pushed_at = models.DateTimeField()
    pushed_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TagQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="tag_unique_name")
        ]

    def __str__(self):
        return self.name


class Upload(models.Model):
    """A blob upload session, which any server process can continue. On a
    local file system its bytes are appended to one staging file in upload
    storage (locked while a request writes); on S3, which cannot append,
    each chunk is a numbered part, joined when the upload closes."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="uploads")
    offset = models.PositiveBigIntegerField(default=0)
    # Names of the committed parts in upload storage, in order (S3 only).
    parts = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return str(self.uuid)


class SearchEntry(models.Model):
    """A repository as the search index sees it: what search filters and sorts
    on, copied from the repository by repositories.search (never by save() or
    signals; the services call it). The text lives beside it: on PostgreSQL in
    tsvector columns the migration adds to this table, on SQLite in an FTS5
    table (see repositories/search.py)."""

    repository = models.OneToOneField(
        Repository, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    is_public = models.BooleanField()
    is_official = models.BooleanField()
    is_automated = models.BooleanField()
    star_count = models.PositiveIntegerField()
    pull_count = models.PositiveBigIntegerField()
    # Stars and recent pulls on one scale; see search.POPULARITY.
    popularity = models.FloatField()
    updated_at = models.DateTimeField()

    class Meta:
        # Each sort walks one of these backwards under the text filter. The
        # index for "best", (is_official, popularity, repository), differs by
        # database and is made by the migration (0003_search_index).
        indexes = [
            models.Index(fields=["star_count", "repository"], name="search_stars"),
            models.Index(fields=["pull_count", "repository"], name="search_pulls"),
            models.Index(fields=["updated_at", "repository"], name="search_updated"),
            # Exact names, in "best" order within each name.
            models.Index(
                fields=["name", "is_official", "popularity", "repository"], name="search_name"
            ),
        ]


class SearchWord(models.Model):
    """A word of some repository's name, and how many repositories use it: the
    small vocabulary that typos are corrected against."""

    word = models.CharField(max_length=255, primary_key=True)
    count = models.IntegerField(default=0)


class Event(models.Model):
    """Something the repositories app tells the rest of Hub (an outbox row).

    It is written in the transaction of the change it tells of, so it exists
    exactly when the change does, and it stays until a worker has delivered
    it (``repositories.events``): a broker that is down when the change
    commits delays the event, it does not lose it. Delivered events are
    pruned after HUB_EVENT_RETENTION_DAYS."""

    class Kind(models.TextChoices):
        IMAGE_PUSHED = "image_pushed", "Image pushed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    # The signal's arguments.
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    # When the event was last handed to the workers; an undelivered event is
    # handed over again HUB_EVENT_RESEND_SECONDS later.
    dispatched_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Deliveries tried, and why the last one that failed did.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The resender's work: few rows, however many events are kept.
            models.Index(
                fields=["dispatched_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="event_undelivered",
            ),
            models.Index(
                fields=["delivered_at"],
                condition=models.Q(delivered_at__isnull=False),
                name="event_delivered",
            ),
        ]

    def __str__(self):
        state = "delivered" if self.delivered_at else "undelivered"
        return f"{self.kind} {self.pk} ({state})"


def validate_tag_pattern(pattern):
    try:
        tag_patterns.compile_pattern(pattern)
    except tag_patterns.InvalidPattern as exc:
        raise ValidationError(str(exc), code="pattern") from None


class ImmutableTagRule(models.Model):
    """A pattern of tags that, once they exist, can neither move to another
    manifest nor be deleted. It belongs to one repository, or to a namespace
    and then covers every repository in it (repositories.immutability)."""

    repository = models.ForeignKey(
        Repository,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="immutable_tag_rules",
    )
    namespace = models.ForeignKey(
        Namespace,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="immutable_tag_rules",
    )
    pattern = models.CharField(
        max_length=255,
        validators=[validate_tag_pattern],
        help_text=(
            "A glob matching the whole tag (v*, release-*), or a regular expression "
            r"between slashes (/^\d+\.\d+\.\d+$/)."
        ),
    )
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(repository__isnull=True, namespace__isnull=False)
                | models.Q(repository__isnull=False, namespace__isnull=True),
                name="immutable_tag_rule_one_owner",
            ),
            models.UniqueConstraint(
                fields=["repository", "pattern"],
                condition=models.Q(repository__isnull=False),
                name="immutable_tag_rule_unique_in_repository",
            ),
            models.UniqueConstraint(
                fields=["namespace", "pattern"],
                condition=models.Q(namespace__isnull=False),
                name="immutable_tag_rule_unique_in_namespace",
            ),
        ]

    def __str__(self):
        return f"{self.owner_name}: {self.pattern}"

    @property
    def owner_name(self):
        return self.repository.full_name if self.repository_id else self.namespace.name
