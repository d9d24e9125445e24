"""Bytes of blobs and upload parts, through Django's storage API.

Nothing here touches the database. Every object is written first to a
scratch file and then moved into storage whole, so a reader never sees a
half-written blob and an interrupted request leaves nothing behind.
"""

import os
import tempfile
from contextlib import contextmanager

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
    scratch.flush()
    scratch.seek(0)
    with _ScratchFile(scratch, name=scratch.name) as content:
        saved = storage.save(name, content)
    if saved != name:  # a storage that renames instead of overwriting
        storage.delete(saved)
        raise RuntimeError(f"storage refused to overwrite {name}")


def commit_blob(digest, scratch):
    """Move a verified scratch file into blob storage under its digest."""
    name = blob_name(digest)
    storage = blob_storage()
    if not storage.exists(name):
        _store(storage, name, scratch)


def save_part(name, scratch):
    _store(upload_storage(), name, scratch)


def part_path(name):
    """The local path of an upload part, or None when storage is not a file system."""
    try:
        return upload_storage().path(name)
    except NotImplementedError:
        return None


class Discard:
    """A sink that keeps nothing, for reading a file only to hash it."""

    def write(self, data):
        return len(data)


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
