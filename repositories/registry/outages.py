"""What an unexpected failure of a /v2/ or /token request means to the client.

A failure whose cause is a service that is down (the database, the cache,
blob storage, the task broker) answers 503 with ``Retry-After``, naming what
is down: the client may simply try again. A full disk answers 507. Anything
else is a bug, answered 500 with the traceback in the log and not in the
answer. Every answer is the spec's JSON, never Django's HTML error page.

The cause is looked for along the whole exception chain (``__cause__`` and
``__context__``): libraries wrap the error that tells what happened (boto3's
S3UploadFailedError wraps the ClientError, kombu's OperationalError the
socket error, Django's OperationalError the driver's).
"""

import errno
import logging
import sqlite3

import amqp.exceptions
import botocore.exceptions
import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import connections
from django.db.utils import InterfaceError, OperationalError
from django.http import Http404, UnreadablePostError
from django.utils.log import log_response
from psycopg2 import errorcodes as pg_errorcodes

from . import errors

logger = logging.getLogger(__name__)

# Left for Django to answer, as it did before: the client's doing, not the
# server's. Django turns the first four into 400, 403 and 404 (and logs a
# suspicious request to the security log); UnreadablePostError means the
# client went away mid-body, so nobody is left to read an answer.
LEFT_TO_DJANGO = (Http404, PermissionDenied, SuspiciousOperation, BadRequest, UnreadablePostError)

DATABASE, CACHE, STORAGE, BROKER = "database", "cache", "storage", "broker"
FULL_DISK = "full disk"

_NAMES = {
    DATABASE: "the database",
    CACHE: "the cache",
    STORAGE: "blob storage",
    BROKER: "the task broker",
}

_FULL_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT}

# What a file system answers when the device or the mount behind it fails:
# a disk error, a FUSE or network mount whose server went away, a file
# system the kernel remounted read-only after errors.
_STORAGE_ERRNOS = {
    errno.EIO,
    errno.ENOTCONN,
    errno.ESTALE,
    errno.EROFS,
    errno.EHOSTDOWN,
    errno.ENODEV,
    errno.ENXIO,
    getattr(errno, "EREMOTEIO", errno.EIO),
}

# Codes S3-compatible stores give when the fault is theirs, whatever status
# they pair them with.
_STORAGE_SERVER_CODES = {"SlowDown", "ServiceUnavailable", "InternalError"}
# MinIO answers 507 with this code when its drives are full.
_STORAGE_FULL_CODES = {"XMinioStorageFull"}

# A connection error raised through these modules happened while a task was
# being sent; the same redis error raised elsewhere is the cache's.
_BROKER_MODULES = ("kombu.", "celery.", "amqp.")

_CONNECTION_ERRORS = (
    OSError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    amqp.exceptions.ConnectionError,
)


def diagnose(exc):
    """FULL_DISK, the name of the service that is down, or None for a bug."""
    chain = list(_chain(exc))
    # A full disk first: SQLite reports one as an OperationalError, which
    # would otherwise read as the database being down.
    if any(_is_full_disk(link) for link in chain):
        return FULL_DISK
    for link in chain:
        if down := _down(link):
            return down
    return None


def error_for(exc):
    """The registry error that answers ``exc``, an exception no view handled.
    After a database failure the broken connections are dropped here, so
    that the next request on this thread connects afresh."""
    found = diagnose(exc)
    if found is None:
        return errors.Unknown()
    if found == FULL_DISK:
        return errors.InsufficientStorage()
    if found == DATABASE:
        _discard_failed_connections()
    return errors.Unavailable(
        f"{_NAMES[found]} is unavailable; try again shortly",
        detail={"unavailable": found},
        headers={"Retry-After": str(settings.HUB_OUTAGE_RETRY_AFTER)},
    )


def log_failure(request, response, exc):
    """Log the failure behind ``response`` once: with its traceback when it is
    a bug, in one line when something is down or full. Django's own
    log_response marks the response, so the request logger does not log it
    a second time without the cause."""
    if response.status_code == errors.Unknown.status:
        log_response(
            "%s %s failed",
            request.method,
            request.path,
            response=response,
            request=request,
            logger=logger,
            exception=exc,
        )
        return
    log_response(
        "%s %s answered %s: %s (%s: %s)",
        request.method,
        request.path,
        response.status_code,
        diagnose(exc),
        type(exc).__name__,
        exc,
        response=response,
        request=request,
        logger=logger,
        level="error",
    )


def _chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        # The context too when a cause is suppressed (``raise ... from None``):
        # what is down matters more than how the code chose to report it.
        exc = exc.__cause__ or exc.__context__


def _is_full_disk(exc):
    if isinstance(exc, OSError):
        return exc.errno in _FULL_DISK_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    if getattr(exc, "pgcode", None) == pg_errorcodes.DISK_FULL:
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        status, code = _client_error(exc)
        return status == 507 or code in _STORAGE_FULL_CODES
    return False


def _down(exc):
    if isinstance(exc, (OperationalError, InterfaceError)):
        return DATABASE
    if isinstance(exc, kombu.exceptions.OperationalError):
        return BROKER
    if isinstance(exc, _CONNECTION_ERRORS) and _raised_in(exc, _BROKER_MODULES):
        return BROKER
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return CACHE
    if isinstance(exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return STORAGE
    if isinstance(exc, botocore.exceptions.ClientError):
        status, code = _client_error(exc)
        if status >= 500 or code in _STORAGE_SERVER_CODES:
            return STORAGE
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return STORAGE
    return None


def _client_error(exc):
    response = exc.response or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status, response.get("Error", {}).get("Code", "")


def _raised_in(exc, modules):
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_globals.get("__name__", "").startswith(modules):
            return True
        traceback = traceback.tb_next
    return False


def _discard_failed_connections():
    # Closed without asking the server whether the connection still works,
    # as Django's close_if_unusable_or_obsolete would: during an outage that
    # question can hang until a TCP timeout. Reconnecting costs little.
    # Inside a transaction a close only marks it for rollback; whoever opened
    # the transaction ends it, and Django closes the connection after the
    # request.
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred and not connection.in_atomic_block:
            connection.close()
