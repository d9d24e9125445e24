"""Bytes of blobs and upload sessions, through Django's storage API.

Nothing here touches the database. A blob is moved into blob storage whole,
so a reader never sees a half-written blob. An upload session in progress
lives in upload storage: on a local file system as one staging file that
each chunk is appended to, elsewhere (S3, whose objects cannot be appended
to) as numbered parts, each written to a scratch file and then moved into
storage whole.
"""

import fcntl
import os
import tempfile
from contextlib import contextmanager, suppress

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages

from .oci import digests

CHUNK_SIZE = 1024 * 1024


def blob_storage():
    return storages["blobs"]


def upload_storage():
    return storages["uploads"]


def blob_name(digest):
    algorithm, encoded = digest.split(":", 1)
    return f"{algorithm}/{encoded[:2]}/{encoded}"


class BodyTooLarge(Exception):
    pass


class BodyIncomplete(Exception):
    """The client sent fewer bytes than it announced (it went away)."""


class _ScratchFile(File):
    """A finished scratch file; FileSystemStorage moves it by renaming."""

    def temporary_file_path(self):
        return self.name


@contextmanager
def scratch_file():
    """A temporary file on the scratch disk, removed when the block ends
    unless storage has moved it away."""
    directory = settings.HUB_SCRATCH_DIR
    os.makedirs(directory, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=directory, delete=False, prefix="blob-")
    try:
        yield handle
    finally:
        handle.close()
        try:
            os.unlink(handle.name)
        except FileNotFoundError:
            pass


def receive(source, sink, *, length=None, limit, hashers=()):
    """Copy ``source`` to ``sink`` in chunks, feeding ``hashers``. Reads
    ``length`` bytes when it is known, else until end of stream; refuses to
    go past ``limit``. Returns the number of bytes copied."""
    copied = 0
    while length is None or copied < length:
        want = CHUNK_SIZE if length is None else min(CHUNK_SIZE, length - copied)
        chunk = source.read(want)
        if not chunk:
            break
        copied += len(chunk)
        if copied > limit:
            raise BodyTooLarge
        for hasher in hashers:
            hasher.update(chunk)
        sink.write(chunk)
    if length is not None and copied != length:
        raise BodyIncomplete
    return copied


def _store(storage, name, scratch):
    # ``scratch`` stays open: a staging file's lock must outlast the move.
    scratch.flush()
    scratch.seek(0)
    saved = storage.save(name, _ScratchFile(scratch, name=scratch.name))
    if saved != name:  # a storage that renames instead of overwriting
        storage.delete(saved)
        raise RuntimeError(f"storage refused to overwrite {name}")


def commit_blob(digest, scratch):
    """Move a verified scratch or staging file into blob storage under its digest."""
    name = blob_name(digest)
    storage = blob_storage()
    if not storage.exists(name):
        _store(storage, name, scratch)


def save_part(name, scratch):
    _store(upload_storage(), name, scratch)


def delete_parts(names):
    storage = upload_storage()
    for name in names:
        try:
            storage.delete(name)
        except FileNotFoundError:
            pass


def assemble(part_names, sink, *, hashers):
    """Copy the parts of an upload, in order, into ``sink``. Returns the size."""
    storage = upload_storage()
    size = 0
    for name in part_names:
        with storage.open(name, "rb") as part:
            size += receive(part, sink, limit=float("inf"), hashers=hashers)
    return size


def staging_path(upload_id):
    """The local path of an upload session's staging file, or None when upload
    storage is not a file system (then the session keeps parts)."""
    try:
        return upload_storage().path(f"{upload_id}/data")
    except NotImplementedError:
        return None


@contextmanager
def locked_staging_file(path):
    """Open a staging file for appending, creating it, and hold an exclusive
    lock on it until the block ends, so that two requests for one session,
    in any processes on the host, never write at once. The lock must be on
    the file the path names: a finished session's file is moved into blob
    storage, and a request that was waiting for its lock must not write to
    the blob it became."""
    while True:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, "a+b")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    with handle:
        yield handle


def rewind(staging, offset):
    """Cut a locked staging file back to ``offset`` bytes, dropping what a
    request that died mid-chunk left past it. False when the file is shorter,
    which means its bytes are lost."""
    if staging.seek(0, os.SEEK_END) < offset:
        return False
    staging.truncate(offset)
    return True


def append(staging, source, *, length, limit):
    """Append ``source`` to a locked staging file, as ``receive`` copies it.
    On any failure the file is cut back, so nothing half-received counts."""
    end = staging.seek(0, os.SEEK_END)
    try:
        return receive(source, staging, length=length, limit=limit)
    except BaseException:
        staging.truncate(end)
        raise


def hash_file(handle, hasher):
    """Feed a whole file to ``hasher`` (read back from the page cache)."""
    handle.seek(0)
    while chunk := handle.read(CHUNK_SIZE):
        hasher.update(chunk)


def delete_staging(path):
    """Remove a staging file, if it is still there, and its folder."""
    with suppress(FileNotFoundError):
        os.remove(path)
    # Gone already, or not empty because a request racing this one made the
    # file anew; that request removes it when it finds the session ended.
    with suppress(OSError):
        os.rmdir(os.path.dirname(path))


def open_blob(digest):
    return blob_storage().open(blob_name(digest), "rb")


def blob_path(digest):
    """The local path of a blob, or None when storage is not a file system."""
    try:
        return blob_storage().path(blob_name(digest))
    except NotImplementedError:
        return None


def blob_url(digest):
    return blob_storage().url(blob_name(digest))


def delete_blob(digest):
    try:
        blob_storage().delete(blob_name(digest))
    except FileNotFoundError:
        pass


def new_hasher(digest):
    algorithm, _ = digests.parse(digest)
    return digests.hasher(algorithm)
