"""Every change to repositories, blobs, manifests and tags goes through here."""

import hashlib
import logging
import secrets
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from accounts.models import Namespace
from accounts.services import staff_namespace_get_or_create
from hub import metrics

from . import blobstore, events, immutability, usage
from .models import (
    Blob,
    Collaborator,
    Manifest,
    ManifestBlob,
    ManifestChild,
    Permission,
    Repository,
    RepositoryBlob,
    Star,
    Tag,
    TeamAccess,
    Upload,
)
from .oci import digests
from .oci import manifests as oci_manifests
from .oci.names import is_valid_name, is_valid_tag, split_name
from .search import search_index_refresh, search_index_remove, search_index_update

logger = logging.getLogger(__name__)

# A config blob is read to learn an image's platform; anything larger is not a config.
CONFIG_READ_LIMIT = 1024 * 1024
# Blob links garbage collection deletes in one statement (and one transaction).
GC_BATCH_SIZE = 500
# A repository's cache generation lives this long unchanged; the entries under
# it live HUB_MANIFEST_CACHE_SECONDS. It must expire at all, because one left
# in a cache epoch that hub.cache has renewed would otherwise stay forever.
CACHE_GENERATION_SECONDS = 24 * 3600


class ServiceError(Exception):
    """Base for the failures a caller can explain to a person."""


class DigestMismatch(ServiceError):
    pass


class InvalidDigest(ServiceError):
    pass


class UploadOutOfOrder(ServiceError):
    def __init__(self, offset):
        super().__init__(f"upload is at offset {offset}")
        self.offset = offset


class UploadTooLarge(ServiceError):
    pass


class UploadIncomplete(ServiceError):
    pass


class UploadUnknown(ServiceError):
    """The session ended (finished or cancelled) while a request for it
    waited, or its stored bytes are lost."""


class ManifestRejected(ServiceError):
    pass


class ManifestUnsupported(ManifestRejected):
    pass


# Raised when a change would move or delete an immutable tag.
TagImmutable = immutability.TagImmutable


# Raised when a push would take a namespace past its storage quota.
QuotaExceeded = usage.QuotaExceeded


class ManifestReferencesUnknown(ServiceError):
    def __init__(self, missing):
        super().__init__("manifest references unknown content: " + ", ".join(missing))
        self.missing = missing


# Repositories ------------------------------------------------------------


def _repository_cache_key(name):
    namespace, repo_name = split_name(name)
    return f"repository:{namespace}/{repo_name}"


def repository_find(*, name):
    """The repository called ``name``, or None. Cached: the registry asks on
    every request. Services that change a repository call _forget_repository."""
    key = _repository_cache_key(name)
    repository = cache.get(key)
    metrics.cache_lookup("repository", repository)
    if repository is None:
        repository = Repository.objects.by_full_name(name).select_related("namespace").first()
        if repository is not None:
            cache.set(key, repository, settings.HUB_MANIFEST_CACHE_SECONDS)
    return repository


def _forget_repository(repository):
    key = _repository_cache_key(repository.full_name)
    transaction.on_commit(lambda: cache.delete(key))


@transaction.atomic
def repository_get_or_create(*, name, creator=None):
    """The repository a push to ``name`` lands in, created on first push with
    its namespace's default visibility. The caller has been authorized: a
    namespace that does not exist yet is one staff may bring about.

    A repository created here is pending: unlisted and unsearchable until its
    first manifest (manifest_put), so that a push abandoned before then shows
    nothing and is swept away (repository_sweep_pending)."""
    namespace_name, repo_name = split_name(name)
    namespace = Namespace.objects.filter(name=namespace_name).first()
    if namespace is None:
        namespace = staff_namespace_get_or_create(name=namespace_name)
    try:
        with transaction.atomic():
            repository, created = Repository.objects.get_or_create(
                namespace=namespace,
                name=repo_name,
                defaults={"visibility": namespace.default_visibility, "is_pending": True},
            )
            if created:
                _grant_creator(repository, creator)
    except IntegrityError:  # created by a concurrent push
        repository = Repository.objects.get(namespace=namespace, name=repo_name)
    return repository


class RepositoryInvalid(ServiceError):
    """A repository that cannot be created or changed as asked."""


def _check_repository_name(namespace, name):
    full_name = f"{namespace.name}/{name}"
    if not is_valid_name(full_name):
        raise RepositoryInvalid(
            "Use lowercase letters and digits, separated by single dots, dashes or "
            "underscores (or slashes between parts); start and end with a letter or digit."
        )
    if len(full_name) > 255:
        raise RepositoryInvalid("The full name may be at most 255 characters long.")


def _grant_creator(repository, creator):
    """In an organization, whoever creates a repository administers it."""
    if getattr(creator, "is_authenticated", False) and (
        repository.namespace.kind == Namespace.Kind.ORGANIZATION
    ):
        Collaborator.objects.get_or_create(
            repository=repository, user=creator, defaults={"permission": Permission.ADMIN}
        )


@transaction.atomic
def repository_create(
    *, namespace, name, visibility=None, description="", full_description="", creator=None
):
    """Create a repository. One that a push has begun but not given a manifest
    yet (pending) is nobody's to see, so it is not "already there": it is
    adopted, with the fields asked for here."""
    _check_repository_name(namespace, name)
    fields = {
        "visibility": visibility or namespace.default_visibility,
        "description": description,
        "full_description": full_description,
    }
    # Locked, so that a first manifest pushed meanwhile waits for the adoption
    # (and then finds nothing left to flip) instead of racing it.
    existing = Repository.objects.select_for_update().filter(namespace=namespace, name=name)
    repository, created = existing.first(), False
    if repository is None:
        try:
            with transaction.atomic():
                repository = Repository.objects.create(namespace=namespace, name=name, **fields)
                created = True
        except IntegrityError:  # a first push created it meanwhile: adopt that one
            repository = existing.get()
    if not created:
        if not repository.is_pending:
            raise RepositoryInvalid(f"{namespace.name}/{name} already exists.")
        for field, value in fields.items():
            setattr(repository, field, value)
        repository.is_pending = False
        repository.save(update_fields=[*fields, "is_pending", "updated_at"])
        _forget_repository(repository)
    _grant_creator(repository, creator)
    search_index_update(repository=repository)
    return repository


@transaction.atomic
def repository_update(*, repository, **changes):
    """Change description, full_description, visibility, is_official or is_automated."""
    allowed = {"description", "full_description", "visibility", "is_official", "is_automated"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"cannot change {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        setattr(repository, field, value)
    repository.save(update_fields=[*changes, "updated_at"])
    search_index_update(repository=repository)
    _forget_repository(repository)
    return repository


@transaction.atomic
def repository_delete(*, repository):
    """Delete a repository with its tags and manifests. Its blobs' bytes go
    with the next garbage collection if nothing else holds them."""
    _forget_repository(repository)
    _forget_cached(repository)
    search_index_remove(repository_id=repository.pk)
    repository.delete()


def star_add(*, user, repository):
    """Star ``repository`` for ``user``; the count moves only if the star is new,
    so concurrent clicks cannot skew it."""
    try:
        with transaction.atomic():
            _, created = Star.objects.get_or_create(user=user, repository=repository)
            if created:
                Repository.objects.filter(pk=repository.pk).update(star_count=F("star_count") + 1)
                search_index_refresh(repository_ids=[repository.pk])
    except IntegrityError:  # a concurrent click starred it
        created = False
    return created


@transaction.atomic
def star_remove(*, user, repository):
    deleted, _ = Star.objects.filter(user=user, repository=repository).delete()
    if deleted:
        Repository.objects.filter(pk=repository.pk).update(star_count=F("star_count") - 1)
        search_index_refresh(repository_ids=[repository.pk])
    return bool(deleted)


def catalog_page(*, actor, last=None, limit):
    repositories = Repository.objects.visible_to(actor).catalog_after(last)
    return [repo.full_name for repo in repositories[:limit]]


# Blobs --------------------------------------------------------------------


def _parse_digest(digest):
    try:
        digests.parse(digest)
    except digests.InvalidDigest as exc:
        raise InvalidDigest(str(exc)) from None


def blob_find(*, repository, digest):
    """The blob ``digest`` if ``repository`` holds it. Never by digest alone:
    the cached answer is keyed by the repository and its cache generation,
    which every removal of a link changes (blob_unlink, repository_delete,
    blob_collect_garbage). Only a blob found is cached, since linking one
    (a push, a mount) does not change the generation."""
    key = _cache_key(repository, "blob", digest)
    blob = cache.get(key)
    metrics.cache_lookup("blob", blob)
    if blob is None:
        blob = Blob.objects.filter(digest=digest, repositoryblob__repository=repository).first()
        if blob is not None:
            cache.set(key, blob, settings.HUB_MANIFEST_CACHE_SECONDS)
    return blob


def _blob_link(*, repository, digest, size, scratch=None):
    """Link blob ``digest`` into ``repository``; store ``scratch`` as its
    bytes if storage lacks them. Returns None when there is no scratch and
    the blob is gone. The row is locked while storage is checked, and garbage
    collection deletes bytes only while it holds that lock, so no row ever
    outlives its bytes. QuotaExceeded if the blob would take the namespace
    past its quota: checked before the bytes are stored, so a refusal stores
    nothing."""
    with transaction.atomic():
        blob, created = Blob.objects.select_for_update().get_or_create(
            digest=digest, defaults={"size": size}
        )
        if scratch is None and created:
            transaction.set_rollback(True)
            return None
        usage.check_blob(namespace_id=repository.namespace_id, blob=blob)
        if scratch is not None:
            blobstore.commit_blob(digest, scratch)
        RepositoryBlob.objects.get_or_create(repository=repository, blob=blob)
    return blob


def release_database():
    """Let go of this request's database connections before a transfer that
    may last minutes (a client on a slow link): the web server's connections
    last one request at most (hub/gunicorn.conf.py), and hundreds of slow
    transfers holding one each would use up what the database allows. The
    next query opens a new one. A connection inside a transaction, or one
    kept for reuse (a Celery worker's), is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


@contextmanager
def _body_errors(limit):
    """Explain why a request body was refused."""
    try:
        yield
    except blobstore.BodyTooLarge:
        raise UploadTooLarge(f"blob is larger than the limit of {limit} bytes") from None
    except blobstore.BodyIncomplete:
        raise UploadIncomplete("the request body ended before its Content-Length") from None


@metrics.REGISTRY_UPLOADS_IN_FLIGHT.track_inprogress()
def _receive(stream, sink, *, length, limit, hashers=()):
    stream = metrics.count_received(stream)
    release_database()
    with _body_errors(limit):
        return blobstore.receive(stream, sink, length=length, limit=limit, hashers=hashers)


def blob_upload_monolithic(*, repository, digest, stream, length):
    """Store a whole blob sent in one request body, checking its digest."""
    _parse_digest(digest)
    hasher = blobstore.new_hasher(digest)
    with blobstore.scratch_file() as scratch:
        size = _receive(
            stream, scratch, length=length, limit=settings.HUB_MAX_BLOB_SIZE, hashers=[hasher]
        )
        _check_digest(digest, hasher)
        return _blob_link(repository=repository, digest=digest, size=size, scratch=scratch)


def _check_digest(expected, hasher):
    actual = f"{hasher.name}:{hasher.hexdigest()}"
    if actual != expected:
        raise DigestMismatch(f"content digest is {actual}, not {expected}")


def blob_mount(*, repository, digest, sources):
    """Link blob ``digest`` from one of ``sources`` (repositories the caller
    may read) into ``repository``; None when none of them holds it."""
    _parse_digest(digest)
    if not sources.filter(repositoryblob__blob__digest=digest).exists():
        return None
    return _blob_link(repository=repository, digest=digest, size=0)


@transaction.atomic
def blob_unlink(*, repository, digest):
    """Remove a blob from a repository. The bytes go when garbage collection
    finds no repository and no manifest still holding them."""
    deleted, _ = RepositoryBlob.objects.filter(repository=repository, blob__digest=digest).delete()
    if deleted:
        _forget_cached(repository)  # blob_find may have cached the link
    return deleted > 0


# Uploads ------------------------------------------------------------------


def upload_start(*, repository):
    return Upload.objects.create(repository=repository)


def upload_find(*, repository, upload_id):
    return Upload.objects.filter(repository=repository, uuid=upload_id).first()


def upload_append(*, upload, stream, length, start=None):
    """Append one chunk. ``start`` is where the client says it begins."""
    if start is not None and start != upload.offset:
        raise UploadOutOfOrder(upload.offset)
    path = blobstore.staging_path(upload.uuid)
    if path is None:
        return _upload_append_part(upload, stream, length)
    with blobstore.locked_staging_file(path) as staging:
        offset = _locked_offset(upload, staging, path)
        # Most blobs are SHA-256: hashed as they arrive, their closing PUT
        # need not read them back (blobstore.staged_digest_take).
        hasher = blobstore.staged_digest_take(upload.uuid, offset)
        if hasher is None and offset == 0:
            hasher = hashlib.sha256()
        hashers = [hasher] if hasher is not None else []
        size = _append(staging, stream, length=length, offset=offset, hashers=hashers)
        if size:
            upload.offset = offset + size
            updated = Upload.objects.filter(pk=upload.pk).update(
                offset=upload.offset, updated_at=timezone.now()
            )
            if not updated:  # cancelled while this chunk came in
                blobstore.delete_staging(path)
                raise UploadUnknown
        if hasher is not None:
            blobstore.staged_digest_keep(upload.uuid, offset + size, hasher)
    return upload


def _locked_offset(upload, staging, path):
    """The session's offset, read while its staging file is locked (the row,
    not the file, is the truth), with the file cut back to it. It must still
    be the offset the caller checked the request against."""
    offset = Upload.objects.filter(pk=upload.pk).values_list("offset", flat=True).first()
    if offset is None:  # ended while this request waited for the lock
        blobstore.delete_staging(path)
        raise UploadUnknown
    if not blobstore.rewind(staging, offset):  # bytes the row counts are gone: start over
        upload_cancel(upload=upload)
        raise UploadUnknown
    if offset != upload.offset:
        raise UploadOutOfOrder(offset)
    return offset


@metrics.REGISTRY_UPLOADS_IN_FLIGHT.track_inprogress()
def _append(staging, stream, *, length, offset, hashers=()):
    stream = metrics.count_received(stream)
    limit = settings.HUB_MAX_BLOB_SIZE - offset
    release_database()
    with _body_errors(limit):
        return blobstore.append(staging, stream, length=length, limit=limit, hashers=hashers)


def _upload_append_part(upload, stream, length):
    """Append one chunk as a part of its own, for storage that cannot append."""
    limit = settings.HUB_MAX_BLOB_SIZE - upload.offset
    # Unique even if two processes race for the same offset; the loser's part is dropped.
    part = f"{upload.uuid}/{upload.offset:016d}-{secrets.token_hex(4)}"
    with blobstore.scratch_file() as scratch:
        size = _receive(stream, scratch, length=length, limit=limit)
        if size == 0:
            return upload
        blobstore.save_part(part, scratch)
    with transaction.atomic():
        current = Upload.objects.select_for_update().filter(pk=upload.pk).first()
        if current is not None and current.offset == upload.offset:
            current.parts = [*current.parts, part]
            current.offset += size
            current.save(update_fields=["parts", "offset", "updated_at"])
            return current
    # The session does not list the part, so nothing else would ever delete
    # it. (Not on commit: raising rolls the block back, dropping its callbacks.)
    blobstore.delete_parts([part])
    if current is None:  # the session ended (cancelled, swept) while this chunk came in
        raise UploadUnknown
    raise UploadOutOfOrder(current.offset)  # a concurrent chunk got there first


def upload_complete(*, upload, digest, stream, length):
    """Close an upload with its last chunk (maybe empty) and its digest."""
    _parse_digest(digest)
    hasher = blobstore.new_hasher(digest)
    path = blobstore.staging_path(upload.uuid)
    if path is None:
        limit = settings.HUB_MAX_BLOB_SIZE - upload.offset
        with blobstore.scratch_file() as scratch:
            size = blobstore.assemble(upload.parts, scratch, hashers=[hasher])
            size += _receive(stream, scratch, length=length, limit=limit, hashers=[hasher])
            return _upload_finish(upload, digest, hasher, size, scratch)
    with blobstore.locked_staging_file(path) as staging:
        offset = _locked_offset(upload, staging, path)
        # The bytes staged by earlier chunks were hashed as they arrived, if
        # they came through this process, or are read back (from the page
        # cache, most likely); this request's own are hashed as they arrive.
        staged = blobstore.staged_digest_take(upload.uuid, offset)
        if staged is not None and staged.name == hasher.name:
            hasher = staged
        else:
            blobstore.hash_file(staging, hasher, length=offset)
        size = offset + _append(staging, stream, length=length, offset=offset, hashers=[hasher])
        # The staging file itself becomes the blob: its bytes are written once.
        return _upload_finish(upload, digest, hasher, size, staging)


def _upload_finish(upload, digest, hasher, size, scratch):
    try:
        _check_digest(digest, hasher)
    except DigestMismatch:
        upload_cancel(upload=upload)
        raise
    try:
        with transaction.atomic():
            blob = _blob_link(
                repository=upload.repository, digest=digest, size=size, scratch=scratch
            )
            upload.delete()
            _delete_upload_files_on_commit(upload)
    except QuotaExceeded:
        # Ended like a digest mismatch: its bytes would not fit on a retry
        # either, and ending it frees its upload storage now.
        upload_cancel(upload=upload)
        raise
    return blob


@transaction.atomic
def upload_cancel(*, upload):
    upload.delete()
    _delete_upload_files_on_commit(upload)


def _delete_upload_files_on_commit(upload):
    parts, path = list(upload.parts), blobstore.staging_path(upload.uuid)

    def delete():
        blobstore.delete_parts(parts)
        if path is not None:
            blobstore.delete_staging(path)

    transaction.on_commit(delete)


def upload_sweep(*, older_than):
    """Cancel uploads untouched for ``older_than`` seconds. Returns how many."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than)
    stale = Upload.objects.filter(updated_at__lt=cutoff)
    count = 0
    for upload in stale.iterator():
        upload_cancel(upload=upload)
        count += 1
    return count


def repository_sweep_pending(*, older_than):
    """Delete the repositories pushes began and abandoned: pending (no manifest
    yet), created more than ``older_than`` seconds ago, with no upload session
    left (run upload_sweep first) and no blob linked since then. Their blob
    links go with them, so garbage collection can take the blobs. Returns how
    many were deleted."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than)
    abandoned = (
        Repository.objects.filter(is_pending=True, created_at__lt=cutoff)
        .exclude(Exists(Upload.objects.filter(repository=OuterRef("pk"))))
        .exclude(
            Exists(RepositoryBlob.objects.filter(repository=OuterRef("pk"), created_at__gte=cutoff))
        )
    )
    count = 0
    for pk in list(abandoned.values_list("pk", flat=True)):
        with transaction.atomic():
            # Asked again under the row's lock: a push may have started an
            # upload, linked a blob or pushed its manifest since the list was
            # read (a manifest_put flipping it holds this lock until it commits).
            repository = abandoned.select_for_update().filter(pk=pk).first()
            if repository is None:
                continue
            repository_delete(repository=repository)
            count += 1
    return count


def upload_sweep_orphans(*, parts_older_than, staging_older_than):
    """Delete the bytes in upload storage that no session will read again, as
    processes killed mid-request leave them. Returns ``{"parts": n,
    "staging": n}``.

    Parts (S3): a part its session does not list, or whose session is gone,
    once older than ``parts_older_than`` seconds. A part is stored before
    its session's row lists it, so a young part nobody lists may be one a
    request is about to list; an old one was left by a request that died in
    between. The bound must be far longer than storing a part and
    committing take (HUB_UPLOAD_MAX_AGE is). Listed parts belong to their
    session and go with it (upload_cancel, upload_sweep).

    Staging files (a file system): the file and folder of a session whose
    row is gone, unless a request holds the file's lock or it changed within
    ``staging_older_than`` seconds (blobstore.staging_sweep). A live
    session's file is upload_sweep's to judge.

    Storage is listed before the rows are read: a session's row is created
    before any of its files and never comes back once deleted, so a row
    missing now means a session ended for good."""
    stored = blobstore.stored_upload_files()
    ids = list(stored)
    listed = {}
    for start in range(0, len(ids), 500):  # under SQLite's limit on query parameters
        batch = Upload.objects.filter(uuid__in=ids[start : start + 500])
        listed.update(batch.values_list("uuid", "parts"))
    cutoff = timezone.now() - timezone.timedelta(seconds=parts_older_than)
    parts = staging = 0
    for upload_id, names in stored.items():
        path = blobstore.staging_path(upload_id)
        if path is not None:
            if upload_id not in listed and blobstore.staging_sweep(
                path, older_than=staging_older_than
            ):
                staging += 1
            continue
        kept = set(listed.get(upload_id, ()))
        for name in names:
            if name in kept:
                continue
            modified = blobstore.part_modified_time(name)
            if modified is not None and modified < cutoff:
                blobstore.delete_parts([name])
                parts += 1
    return {"parts": parts, "staging": staging}


def leftovers_sweep(*, upload_max_age, scratch_max_age):
    """Sweep what failed and abandoned pushes leave, and return how much went
    of each: upload sessions idle for ``upload_max_age`` seconds, then the
    pending repositories their pushes began (the same age: a push may take
    as long as its uploads may stay), then upload storage no session owns,
    then this host's scratch files no request holds (``scratch_max_age``).
    In this order, each step finds what the one before let go."""
    counts = {
        "uploads": upload_sweep(older_than=upload_max_age),
        "repositories": repository_sweep_pending(older_than=upload_max_age),
    }
    counts.update(
        upload_sweep_orphans(parts_older_than=upload_max_age, staging_older_than=scratch_max_age)
    )
    counts["scratch"] = blobstore.scratch_sweep(older_than=scratch_max_age)
    return counts


def blob_collect_garbage(*, grace_seconds):
    """Drop what no manifest needs. A repository's link to a blob that none
    of its manifests references goes after ``grace_seconds`` (time for the
    manifest push that follows the blob push); a blob no repository links
    and no manifest references goes with its bytes. Returns the number of
    blobs deleted."""
    cutoff = timezone.now() - timezone.timedelta(seconds=grace_seconds)
    referenced = ManifestBlob.objects.filter(
        manifest__repository=OuterRef("repository"), blob=OuterRef("blob")
    )
    unneeded = RepositoryBlob.objects.filter(created_at__lt=cutoff).exclude(Exists(referenced))
    links = list(unneeded.values_list("pk", "repository_id"))
    for start in range(0, len(links), GC_BATCH_SIZE):
        batch = links[start : start + GC_BATCH_SIZE]
        with transaction.atomic():
            # Asked again as they go: a manifest pushed since the list was
            # read may need some of them. Every repository that may lose a
            # link forgets its cached blob lookups.
            unneeded.filter(pk__in=[pk for pk, _ in batch]).delete()
            _forget_cached_ids({repository_id for _, repository_id in batch})

    deleted = 0
    orphans = Blob.objects.filter(
        created_at__lt=cutoff, repositoryblob__isnull=True, manifestblob__isnull=True
    ).values_list("pk", flat=True)
    for pk in list(orphans):
        with transaction.atomic():
            blob = Blob.objects.select_for_update().filter(pk=pk).first()
            if blob is None or blob.repositoryblob_set.exists() or blob.manifestblob_set.exists():
                continue
            blobstore.delete_blob(blob.digest)
            blob.delete()
            deleted += 1
    return deleted


# Manifests and tags -------------------------------------------------------


def _cache_generation(repository):
    """A token that changes whenever the repository's manifests or tags do.
    Cached lookups are keyed by it, so a reader that raced a change can only
    ever write its stale answer under a key nobody asks for again."""
    key = _generation_key(repository.pk)
    generation = cache.get(key)
    if generation is None:
        token = secrets.token_hex(8)
        generation = token if cache.add(key, token, CACHE_GENERATION_SECONDS) else cache.get(key)
    # None when the cache kept nothing (Redis unreachable): a token of this
    # call's own then keys the lookup where nobody asks again, rather than
    # under a constant that no change would ever move.
    return generation or secrets.token_hex(8)


def _cache_key(repository, *parts):
    """A cache key for a lookup in ``repository`` that changes with it."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"repository:{repository.pk}:{_cache_generation(repository)}:{digest}"


def _generation_key(repository_id):
    return f"manifest-generation:{repository_id}"


def _forget_cached(repository):
    _forget_cached_ids([repository.pk])


def _forget_cached_ids(repository_ids):
    """Once committed, move the generation of these repositories on, so that
    nothing cached for them before is found again."""
    keys = [_generation_key(repository_id) for repository_id in repository_ids]

    def forget():
        cache.set_many({key: secrets.token_hex(8) for key in keys}, CACHE_GENERATION_SECONDS)

    transaction.on_commit(forget)


def manifest_resolve(*, repository, reference):
    """``(digest, media_type, payload)`` of a manifest by tag or digest, or None.
    Answered from the cache when it can be."""
    key = _cache_key(repository, "manifest", reference)
    cached = cache.get(key)
    metrics.cache_lookup("manifest", cached)
    if cached is not None:
        return cached
    manifests = Manifest.objects.filter(repository=repository)
    if digests.is_digest(reference):
        manifest = manifests.filter(digest=reference).first()
    else:
        manifest = manifests.filter(tags__name=reference).first()
    if manifest is None:
        return None
    found = (manifest.digest, manifest.media_type, bytes(manifest.payload))
    cache.set(key, found, settings.HUB_MANIFEST_CACHE_SECONDS)
    return found


def manifest_for_platform(*, repository, index_payload, platform):
    """The child of an index that serves ``platform`` (``os/arch[/variant]``)."""
    index = oci_manifests.parse(index_payload)
    for child in index.manifests:
        served = oci_manifests.platform_string(child.platform or {})
        if served == platform or served.startswith(platform + "/"):
            return manifest_resolve(repository=repository, reference=child.digest)
    return None


def manifest_put(*, repository, reference, payload, content_type, tags=(), pusher=None):
    """Store a manifest under a tag or its digest, with any extra ``tags``."""
    try:
        parsed = oci_manifests.parse(payload, content_type)
    except oci_manifests.ManifestUnsupported as exc:
        raise ManifestUnsupported(str(exc)) from None
    except oci_manifests.ManifestInvalid as exc:
        raise ManifestRejected(str(exc)) from None

    if digests.is_digest(reference):
        _parse_digest(reference)
        algorithm, _ = digests.parse(reference)
        digest = digests.of(payload, algorithm)
        if digest != reference:
            raise DigestMismatch(f"manifest digest is {digest}, not {reference}")
    else:
        digest = digests.of(payload)
        tags = [reference, *tags]
    for tag in tags:
        if not is_valid_tag(tag):
            raise ManifestRejected(f"invalid tag {tag!r}")

    with transaction.atomic():
        blobs, children = _referenced_content(repository, parsed)
        # The first manifest makes a pending repository an ordinary one. The
        # UPDATE is conditional, so of concurrent first pushes exactly one
        # flips it, and it locks the row, so the sweep of abandoned pushes
        # (which re-checks is_pending under the same lock) cannot delete it
        # under this push. Nothing makes a repository pending again, so one
        # that is not pending in memory is not in the database either.
        first_content = repository.is_pending and bool(
            Repository.objects.filter(pk=repository.pk, is_pending=True).update(is_pending=False)
        )
        manifest = Manifest.objects.filter(repository=repository, digest=digest).first()
        if manifest is None:
            usage.check_manifest(
                namespace_id=repository.namespace_id, digest=digest, size=len(payload)
            )
            manifest = _manifest_create(repository, digest, payload, parsed, blobs, children)
        now = timezone.now()
        for tag in tags:
            _tag_set(repository, tag, manifest, pushed_at=now, pushed_by=_user_or_none(pusher))
        Repository.objects.filter(pk=repository.pk).update(updated_at=now)
        if first_content:
            search_index_update(repository=repository)
            # repository_find cached it as pending, which permissions judge
            # like a repository that does not exist yet.
            _forget_repository(repository)
        else:
            search_index_refresh(repository_ids=[repository.pk])
        _forget_cached(repository)
        if tags:
            pusher = _user_or_none(pusher)
            events.image_pushed_send(
                repository_id=repository.pk,
                digest=digest,
                tags=tags,
                pusher_id=pusher.pk if pusher else None,
            )
    repository.is_pending = False  # flipped here, or by a concurrent first push
    return manifest, parsed


def _tag_set(repository, name, manifest, *, pushed_at, pushed_by):
    """Point tag ``name`` at ``manifest``. An existing tag is locked while
    the immutability rules are asked, so that of two pushes racing to one
    tag the second one sees the first one's tag."""
    existing = Tag.objects.select_for_update().filter(repository=repository, name=name).first()
    if existing is None:
        try:
            with transaction.atomic():
                return Tag.objects.create(
                    repository=repository,
                    name=name,
                    manifest=manifest,
                    pushed_at=pushed_at,
                    pushed_by=pushed_by,
                )
        except IntegrityError:  # created by a concurrent push
            existing = Tag.objects.select_for_update().get(repository=repository, name=name)
    if existing.manifest_id != manifest.pk:
        immutability.check_tag_change(repository, name, immutability.MOVE)
    existing.manifest, existing.pushed_at, existing.pushed_by = manifest, pushed_at, pushed_by
    existing.save(update_fields=["manifest", "pushed_at", "pushed_by"])
    return existing


def _user_or_none(user):
    return user if getattr(user, "is_authenticated", False) else None


def _referenced_content(repository, parsed):
    """The blobs and child manifests ``parsed`` points at, all of which the
    repository must already hold."""
    blob_digests = {d.digest for d in parsed.blob_references}
    child_digests = {d.digest for d in parsed.manifests}
    blobs = list(
        Blob.objects.filter(digest__in=blob_digests, repositoryblob__repository=repository)
    )
    children = list(Manifest.objects.filter(repository=repository, digest__in=child_digests))
    missing = (blob_digests - {b.digest for b in blobs}) | (
        child_digests - {m.digest for m in children}
    )
    if missing and not settings.HUB_ALLOW_SPARSE_MANIFESTS:
        raise ManifestReferencesUnknown(sorted(missing))
    return blobs, children


def _manifest_create(repository, digest, payload, parsed, blobs, children):
    if parsed.is_index:
        platforms = [d.platform for d in parsed.manifests if d.platform]
        layers_size = sum(child.layers_size for child in children)
    else:
        platforms = [p] if (p := _image_platform(parsed)) else []
        layers_size = parsed.layers_size
    manifest = Manifest.objects.create(
        repository=repository,
        digest=digest,
        media_type=parsed.media_type,
        payload=payload,
        size=len(payload),
        subject_digest=parsed.subject.digest if parsed.subject else "",
        artifact_type=parsed.referrer_artifact_type,
        annotations=parsed.annotations,
        platforms=platforms,
        layers_size=layers_size,
    )
    ManifestBlob.objects.bulk_create([ManifestBlob(manifest=manifest, blob=b) for b in blobs])
    ManifestChild.objects.bulk_create([ManifestChild(parent=manifest, child=c) for c in children])
    return manifest


def _image_platform(parsed):
    config = parsed.config
    if config.media_type not in oci_manifests.IMAGE_CONFIG_TYPES or config.size > CONFIG_READ_LIMIT:
        return None
    try:
        with blobstore.open_blob(config.digest) as handle:
            return oci_manifests.image_platform(handle.read(CONFIG_READ_LIMIT))
    except OSError:
        logger.warning("config blob %s could not be read", config.digest)
        return None


@transaction.atomic
def manifest_delete(*, repository, digest):
    """Delete a manifest and every tag that points at it."""
    manifest = (
        Manifest.objects.select_for_update().filter(repository=repository, digest=digest).first()
    )
    if manifest is None:
        return False
    immutability.check_manifest_delete(repository, manifest)
    manifest.delete()
    _forget_cached(repository)
    return True


@transaction.atomic
def tag_delete(*, repository, name):
    """Delete a tag; TagImmutable if a rule protects it."""
    tags = Tag.objects.select_for_update().filter(repository=repository, name=name)
    if tags.exists():
        immutability.check_tag_change(repository, name, immutability.DELETE)
    deleted, _ = tags.delete()
    _forget_cached(repository)
    return deleted > 0


def tags_page(*, repository, last=None, limit):
    key = _cache_key(repository, "tags", last, limit)
    tags = cache.get(key)
    metrics.cache_lookup("tags", tags)
    if tags is None:
        tags = list(Tag.objects.page(repository, last=last).values_list("name", flat=True)[:limit])
        cache.set(key, tags, settings.HUB_MANIFEST_CACHE_SECONDS)
    return tags


def referrers(*, repository, digest, artifact_type=None):
    return list(Manifest.objects.referrers_of(repository, digest, artifact_type))


# Collaborators and team access ----------------------------------------------


def _check_permission(permission):
    if permission not in Permission.values:
        raise ValidationError(f"Unknown permission “{permission}”.", code="permission")


def collaborator_check(*, repository, user):
    """Raise ValidationError unless ``user`` may become a collaborator."""
    if repository.namespace.user_id == user.pk:
        raise ValidationError(
            f"{user.get_username()} owns {repository.full_name} already.", code="owner"
        )


@transaction.atomic
def collaborator_set(*, repository, user, permission):
    """Give ``user`` ``permission`` on ``repository``, or change what they had."""
    _check_permission(permission)
    collaborator_check(repository=repository, user=user)
    collaborator, _ = Collaborator.objects.update_or_create(
        repository=repository, user=user, defaults={"permission": permission}
    )
    return collaborator


@transaction.atomic
def collaborator_remove(*, repository, user):
    deleted, _ = Collaborator.objects.filter(repository=repository, user=user).delete()
    return deleted > 0


def team_access_check(*, team, repository):
    """Raise ValidationError unless ``team`` may be given ``repository``."""
    if repository.namespace_id != team.organization.namespace_id:
        raise ValidationError(
            "A team can be given only repositories of its own organization.", code="namespace"
        )


@transaction.atomic
def team_access_set(*, team, repository, permission):
    """Give ``team`` ``permission`` on a repository of its organization."""
    _check_permission(permission)
    team_access_check(team=team, repository=repository)
    access, _ = TeamAccess.objects.update_or_create(
        team=team, repository=repository, defaults={"permission": permission}
    )
    return access


@transaction.atomic
def team_access_remove(*, team, repository):
    deleted, _ = TeamAccess.objects.filter(team=team, repository=repository).delete()
    return deleted > 0


def manifest_tag(*, repository, digest, tags, pusher=None):
    """Point more ``tags`` at a manifest the repository holds, all in one
    transaction, as a push by digest with ``?tag=`` does."""
    manifest = Manifest.objects.get(repository=repository, digest=digest)
    return manifest_put(
        repository=repository,
        reference=digest,
        payload=bytes(manifest.payload),
        content_type=manifest.media_type,
        tags=tags,
        pusher=pusher,
    )
