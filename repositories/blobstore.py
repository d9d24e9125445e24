"""Bytes of blobs and upload sessions, through Django's storage API.

Nothing here touches the database. A blob is moved into blob storage whole,
so a reader never sees a half-written blob. An upload session in progress
lives in upload storage: on a local file system as one staging file that
each chunk is appended to, elsewhere (S3, whose objects cannot be appended
to) as numbered parts, each written to a scratch file and then moved into
storage whole.

A process killed mid-request never runs its clean-up, so what it was writing
stays behind; scratch_sweep and staging_sweep here, and the services'
upload_sweep_orphans, find such leftovers and remove them.
"""

import fcntl
import os
import stat
import tempfile
import time
import uuid
from contextlib import contextmanager, suppress

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages

from hub import threads

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


SCRATCH_PREFIX = "blob-"


@contextmanager
def scratch_file():
    """A temporary file on the scratch disk, removed when the block ends
    unless storage has moved it away. It is locked (flock) while the block
    runs, which is how scratch_sweep tells it from a dead request's file."""
    directory = settings.HUB_SCRATCH_DIR
    os.makedirs(directory, exist_ok=True)
    while True:
        handle = tempfile.NamedTemporaryFile(dir=directory, delete=False, prefix=SCRATCH_PREFIX)
        _lock_waiting(handle)
        # Unlocked for the instant between creating and locking, the file
        # could be taken by a sweep that misjudged its age (a clock that
        # jumped): then it is no longer the file the name points at.
        if _names_open_file(handle.name, handle):
            break
        handle.close()
    try:
        yield handle
    finally:
        # Whatever ended the block, the file goes now: on a full disk its
        # space is what the next request needs. Closing flushes what the file
        # still buffers, which fails again on a full disk and would hide the
        # error that ended the block; its bytes are unwanted either way.
        with suppress(FileNotFoundError):
            os.unlink(handle.name)
        with suppress(OSError):
            handle.close()


def _names_open_file(path, handle):
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _delete_if_abandoned(path, cutoff):
    """Unlink ``path`` if nobody holds a lock on it and it was last modified
    before ``cutoff`` (a time.time() value). The lock is taken, without
    waiting, before the age is read again and the file removed, so a request
    that holds the file, or takes it meanwhile, keeps it. True when removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone already, or not a file we may open
        return False
    with os.fdopen(fd, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_mtime >= cutoff:
            return False
        if not _names_open_file(path, handle):
            return False
        os.unlink(path)
    return True


def scratch_sweep(*, older_than):
    """Delete the scratch files that dead requests left: those not modified
    for ``older_than`` seconds that no process holds. Returns how many.

    A live request holds an exclusive flock on its scratch file from creating
    it to removing it (scratch_file), and the kernel drops that lock when the
    process ends, however it ends (SIGKILL, the OOM killer, a crash), so an
    unlocked file belongs to nobody. The lock, not the age, is what protects
    a live request: a client that pauses for longer than ``older_than`` keeps
    its file because its request still holds the lock. (Naming files by pid
    would be weaker: a pid is reused, and in a container sharing the disk
    with another it names a different process.) The age is a second guard,
    for a file system where flock does not reach across hosts.

    Only files named as scratch_file names them are touched, so a scratch
    directory shared with other programs (HUB_SCRATCH_DIR=/tmp) loses only
    Hub's own leftovers. Each host has its own scratch files: every host that
    receives uploads must run this (a worker does on start, `manage.py sweep`
    does where no worker runs)."""
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(settings.HUB_SCRATCH_DIR))
    except FileNotFoundError:
        return 0
    deleted = 0
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX):
            continue
        try:
            stale = entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if stale and _delete_if_abandoned(entry.path, cutoff):
            deleted += 1
    return deleted


def receive(source, sink, *, length=None, limit, hashers=()):
    """Copy ``source`` to ``sink`` in chunks, feeding ``hashers``. Reads
    ``length`` bytes when it is known, else until end of stream; refuses to
    go past ``limit``. Returns the number of bytes copied.

    Each chunk is written on a thread (hub.threads) while the next one is
    received and hashed, so a chunk in flight holds at most two chunks of
    memory, and the web process serves other requests during the writes."""
    copied = 0
    writing = None
    try:
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
            if writing is not None:
                writing.get()
            writing = threads.start(_write_all, sink, chunk)
        last, writing = writing, None
        if last is not None:
            last.get()
    finally:
        if writing is not None:
            # Something else went wrong: the write in flight must be over
            # before the caller cuts the file back or removes it.
            with suppress(Exception):
                writing.get()
    if length is not None and copied != length:
        raise BodyIncomplete
    return copied


def _write_all(sink, data):
    # An unbuffered file (a staging file) takes only part of a write when the
    # disk fills up midway, and says so by the count it returns; the next
    # write then fails with ENOSPC.
    view = memoryview(data)
    while view:
        view = view[sink.write(view) :]


def _store(storage, name, scratch):
    # ``scratch`` stays open: a staging file's lock must outlast the move.
    scratch.flush()
    scratch.seek(0)
    try:
        saved = storage.save(name, _ScratchFile(scratch, name=scratch.name))
    except OSError:
        # A file system that cannot rename across devices copies, and a copy
        # cut short (a full disk) would stay under the final name, where
        # commit_blob takes it for the whole blob. Callers hold the blob's
        # row lock or own the name, so nothing else writes there meanwhile.
        with suppress(OSError):
            storage.delete(name)
        raise
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


def stored_upload_files():
    """What upload storage holds, by session: ``{upload uuid: [names]}``, the
    names as save_part and staging_path use them (a session's parts on S3,
    its staging file ``<uuid>/data`` on a file system). Folders that are not
    named by a session's uuid are not Hub's, and are left out."""
    storage = upload_storage()
    try:
        folders, _ = storage.listdir("")
    except FileNotFoundError:  # nothing was ever uploaded
        return {}
    stored = {}
    for folder in folders:
        try:
            upload_id = uuid.UUID(folder)
        except ValueError:
            continue
        if str(upload_id) != folder:  # not as Hub spells a session's folder
            continue
        try:
            _, files = storage.listdir(folder)
        except FileNotFoundError:  # removed since the first listing
            continue
        stored[upload_id] = [f"{folder}/{name}" for name in files]
    return stored


def part_modified_time(name):
    """When a part was stored (an aware datetime), or None if it is gone."""
    try:
        return upload_storage().get_modified_time(name)
    except FileNotFoundError:
        return None
    except Exception as exc:
        # S3 answers for a missing object with a ClientError whose code is
        # 404; matched by its shape, so that file-system installations need
        # not import botocore.
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


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
        # Unbuffered: a buffered file keeps what a full disk refused and
        # writes it when closed, past the point the failed chunk was cut back to.
        handle = open(path, "a+b", buffering=0)
        _lock_waiting(handle)
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    with handle:
        yield handle


LOCK_POLL_SECONDS = 0.05


def _lock_waiting(handle):
    """Take an exclusive flock on ``handle``, waiting for it in short sleeps.
    A blocking flock would stop the whole web process, where each request is
    a greenlet (hub/gunicorn.conf.py): if the holder were a request in the
    same process, it could never run again to let go."""
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(LOCK_POLL_SECONDS)


def rewind(staging, offset):
    """Cut a locked staging file back to ``offset`` bytes, dropping what a
    request that died mid-chunk left past it. False when the file is shorter,
    which means its bytes are lost."""
    if staging.seek(0, os.SEEK_END) < offset:
        return False
    staging.truncate(offset)
    return True


def append(staging, source, *, length, limit, hashers=()):
    """Append ``source`` to a locked staging file, as ``receive`` copies it.
    On any failure the file is cut back, so nothing half-received counts."""
    end = staging.seek(0, os.SEEK_END)
    try:
        return receive(source, staging, length=length, limit=limit, hashers=hashers)
    except BaseException:
        staging.truncate(end)
        raise


# The running SHA-256 of staging files this process appended to, by upload,
# with the length it covers, so that a closing PUT served by the same process
# (as the chunks of one push on one kept-alive connection are) need not read
# the whole file back. The bytes of a staging file up to its session's offset
# never change, so a digest whose length is that offset is the file's.
STAGED_DIGESTS_KEPT = 1000
_staged_digests = {}


def staged_digest_take(upload_id, length):
    """The running hasher of the first ``length`` bytes of an upload's
    staging file, if this process has it; None otherwise."""
    kept = _staged_digests.pop(upload_id, None)
    if kept is None or kept[0] != length:
        return None
    return kept[1]


def staged_digest_keep(upload_id, length, hasher):
    _staged_digests[upload_id] = (length, hasher)
    while len(_staged_digests) > STAGED_DIGESTS_KEPT:  # the oldest go first
        del _staged_digests[next(iter(_staged_digests))]


def hash_file(handle, hasher, *, length):
    """Feed the first ``length`` bytes of a file to ``hasher``."""
    handle.seek(0)
    while length > 0 and (chunk := handle.read(min(CHUNK_SIZE, length))):
        hasher.update(chunk)
        length -= len(chunk)


def delete_staging(path):
    """Remove a staging file, if it is still there, and its folder."""
    with suppress(FileNotFoundError):
        os.remove(path)
    # Gone already, or not empty because a request racing this one made the
    # file anew; that request removes it when it finds the session ended.
    with suppress(OSError):
        os.rmdir(os.path.dirname(path))


def staging_sweep(path, *, older_than):
    """Remove the staging file and folder of a session that has ended, unless
    a request holds the file's lock or it changed within ``older_than``
    seconds. A request waiting for that lock finds the file gone and makes it
    anew, then sees the session ended and removes it itself (see
    locked_staging_file). True when anything was removed."""
    cutoff = time.time() - older_than
    removed = _delete_if_abandoned(path, cutoff)
    folder = os.path.dirname(path)
    try:
        # A folder left empty (a finished session's file became its blob);
        # one changed lately may be about to receive a request's file.
        if removed or os.stat(folder).st_mtime < cutoff:
            os.rmdir(folder)
            removed = True
    except OSError:  # gone, not empty, or never there
        pass
    return removed


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
