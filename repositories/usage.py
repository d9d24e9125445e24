"""Storage used by repositories and namespaces, and the namespace quota.

What a namespace stores is every blob linked to one of its repositories,
counted once however many of them link it (layers shared between two
repositories of one namespace are stored once), and its manifests, counted
once per digest. A repository's usage is the blobs linked to it and its
manifests. Upload sessions still under way count for nothing: their bytes
are counted when the upload closes and links a blob.

Each figure is one aggregate query. On PostgreSQL it walks the namespace's
repositories (the unique (namespace, name) index), their blob links (the
unique (repository, blob) index) and fetches each blob once by primary key.
"""

from django.db import connection

from accounts.models import Namespace

from .models import Blob, Manifest, Repository, RepositoryBlob

UNITS = ("bytes", "KB", "MB", "GB", "TB", "PB")


class QuotaExceeded(Exception):
    """A push would take a namespace past its storage quota."""

    def __init__(self, namespace, *, used, quota, adding):
        super().__init__(
            f"namespace {namespace.name} is over its storage quota: "
            f"{format_bytes(used)} used of {format_bytes(quota)} allowed, "
            f"{format_bytes(adding)} more refused"
        )
        self.used, self.quota, self.adding = used, quota, adding


def format_bytes(size):
    """``size`` for people: "512 bytes", "1.2 GB", "10 GB" (powers of 1024)."""
    value, unit = float(size), UNITS[0]
    for unit in UNITS:
        if value < 1024 or unit == UNITS[-1]:
            break
        value /= 1024
    if unit == "bytes":
        return f"{int(value)} bytes"
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}"


def _tables():
    return {
        "blob": Blob._meta.db_table,
        "link": RepositoryBlob._meta.db_table,
        "manifest": Manifest._meta.db_table,
        "repository": Repository._meta.db_table,
    }


# The ids of the blobs a namespace links. Parameter: the namespace's id.
_NAMESPACE_BLOB_IDS = """
    SELECT link.blob_id FROM {link} link
    JOIN {repository} repository ON repository.id = link.repository_id
    WHERE repository.namespace_id = %s
"""

# Bytes a namespace stores: blobs once each, manifests once per digest (one
# digest, one size, so (digest, size) is distinct by digest). Parameters:
# the namespace's id, twice.
_NAMESPACE_BYTES = """
    COALESCE((SELECT SUM(blob.size) FROM {blob} blob
              WHERE blob.id IN ({blob_ids})), 0)
    + COALESCE((SELECT SUM(pushed.size) FROM (
          SELECT DISTINCT manifest.digest, manifest.size FROM {manifest} manifest
          JOIN {repository} repository ON repository.id = manifest.repository_id
          WHERE repository.namespace_id = %s) pushed), 0)
"""


def _sql(template):
    """``template`` with the tables and the shared fragments filled in. Every
    parameter is a positional %s (the one style both drivers accept)."""
    tables = _tables()
    blob_ids = _NAMESPACE_BLOB_IDS.format(**tables)
    namespace_bytes = _NAMESPACE_BYTES.format(blob_ids=blob_ids, **tables)
    return template.format(namespace_bytes=namespace_bytes, blob_ids=blob_ids, **tables)


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def namespace_usage(namespace):
    """Bytes ``namespace`` (a Namespace) stores."""
    (used,) = _fetch(_sql("SELECT {namespace_bytes}"), [namespace.pk, namespace.pk])
    return int(used or 0)


def repository_usage(repository):
    """Bytes ``repository`` stores: its blobs, once each, and its manifests."""
    sql = """
        SELECT
          COALESCE((SELECT SUM(blob.size) FROM {blob} blob
                    JOIN {link} link ON link.blob_id = blob.id
                    WHERE link.repository_id = %s), 0)
          + COALESCE((SELECT SUM(manifest.size) FROM {manifest} manifest
                      WHERE manifest.repository_id = %s), 0)
    """.format(**_tables())
    (used,) = _fetch(sql, [repository.pk, repository.pk])
    return int(used or 0)


def namespace_storage(namespace):
    """``{"storage_bytes", "quota_bytes"}`` of a namespace (quota None: no limit)."""
    return {"storage_bytes": namespace_usage(namespace), "quota_bytes": namespace.quota_bytes}


def _namespace_now(namespace_id):
    """The namespace as the database has it now: the one a request holds may
    come from the repository cache, older than a quota staff just set."""
    return Namespace.objects.only("pk", "name", "storage_quota_bytes").get(pk=namespace_id)


def check_blob(*, namespace_id, blob):
    """Raise QuotaExceeded if linking ``blob`` into a repository of the
    namespace would take it past its quota. A blob the namespace links
    already is free: re-pushes and mounts within a namespace always pass.
    One primary-key read, and one aggregate query if there is a quota.

    Checked, not reserved: two pushes that each fit may together overshoot
    the quota by what the others add meanwhile. Preventing it would mean
    locking the namespace row from the check until the blob's transaction
    commits, which on object storage includes writing the blob, so every
    push into a namespace, even the layers of one image, would wait for the
    others. A quota bounds growth; the next push after an overshoot is refused."""
    namespace = _namespace_now(namespace_id)
    quota = namespace.quota_bytes
    if quota is None:
        return
    sql = _sql(
        """
        SELECT CASE
          WHEN EXISTS (SELECT 1 FROM {link} link
                       JOIN {repository} repository ON repository.id = link.repository_id
                       WHERE repository.namespace_id = %s AND link.blob_id = %s)
          THEN NULL
          ELSE {namespace_bytes}
        END
        """
    )
    (used,) = _fetch(sql, [namespace.pk, blob.pk, namespace.pk, namespace.pk])
    if used is not None:  # None: the namespace has it already
        _refuse_past(namespace, used=int(used), quota=quota, adding=blob.size)


def check_manifest(*, namespace_id, digest, size):
    """Raise QuotaExceeded if storing manifest ``digest`` (``size`` bytes)
    would take the namespace past its quota; one the namespace holds under
    that digest already is free. The blobs a manifest references are linked
    to its repository before it is pushed, so they were counted (and
    checked) when they were linked: only the manifest's own bytes are new."""
    namespace = _namespace_now(namespace_id)
    quota = namespace.quota_bytes
    if quota is None:
        return
    sql = _sql(
        """
        SELECT
          EXISTS (SELECT 1 FROM {manifest} manifest
                  JOIN {repository} repository ON repository.id = manifest.repository_id
                  WHERE repository.namespace_id = %s AND manifest.digest = %s),
          {namespace_bytes}
        """
    )
    present, used = _fetch(sql, [namespace.pk, digest, namespace.pk, namespace.pk])
    if not present:
        _refuse_past(namespace, used=int(used), quota=quota, adding=size)


def _refuse_past(namespace, *, used, quota, adding):
    if used + adding > quota:
        raise QuotaExceeded(namespace, used=used, quota=quota, adding=adding)
