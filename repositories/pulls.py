"""Pull counting without a database write per pull.

Each process adds pulls up in memory and writes them out in one batch when
the batch is old or big enough; the write happens on the request that finds
it due. A process that dies loses at most one batch of counts.

A batch the database refuses (it is unreachable, say) is not lost and does
not fail the pull: its unwritten counts go back into memory, and the next
attempt waits HUB_PULL_FLUSH_SECONDS, so that pulls during an outage do not
each wait for the database. A count whose commit failed without a word on
whether it happened is written again: counted twice rather than lost.
"""

import atexit
import logging
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, transaction
from django.db.models import F
from django.utils import timezone

from .models import PullDay, Repository
from .search import search_index_refresh

logger = logging.getLogger(__name__)

# What a database that is down or unreachable raises.
DATABASE_FAILURES = (DatabaseError, InterfaceError)


class PullBuffer:
    def __init__(self):
        self._lock = threading.Lock()
        self._counts = Counter()
        self._started = time.monotonic()
        self._retry_at = 0.0

    def add(self, repository_id):
        """Count one pull; returns the batch to write if one is due."""
        with self._lock:
            self._counts[(repository_id, timezone.now().date())] += 1
            now = time.monotonic()
            due = now >= self._retry_at and (
                sum(self._counts.values()) >= settings.HUB_PULL_BATCH_SIZE
                or now - self._started >= settings.HUB_PULL_FLUSH_SECONDS
            )
            return self._take() if due else None

    def give_back(self, counts):
        """Keep ``counts``, which could not be written, for a later batch."""
        with self._lock:
            self._counts.update(counts)
            self._retry_at = time.monotonic() + settings.HUB_PULL_FLUSH_SECONDS

    def take(self):
        with self._lock:
            return self._take()

    def _take(self):
        counts, self._counts = self._counts, Counter()
        self._started = time.monotonic()
        return counts


_buffer = None


def pull_buffer():
    global _buffer
    if _buffer is None:
        _buffer = PullBuffer()
        atexit.register(_flush_at_exit)
    return _buffer


def _flush_at_exit():
    if not settings.HUB_PULL_FLUSH_AT_EXIT:
        return
    try:
        pulls_flush()
    except Exception:  # the process is going away; say what is lost
        logger.exception("pull counts could not be written at exit")


def record_pull(*, repository_id):
    batch = pull_buffer().add(repository_id)
    if batch:
        try:
            pulls_flush(counts=batch)
        except DATABASE_FAILURES as error:  # the pull itself was served
            logger.warning("pull counts not written (those left wait in memory): %s", error)


def pulls_flush(*, counts=None):
    """Add counted pulls to the per-day rows and the repositories' totals.
    If the database fails, what was not written goes back into the buffer
    (see above) and the error is raised."""
    counts = pull_buffer().take() if counts is None else counts
    unwritten = Counter(counts)
    try:
        for (repository_id, day), count in counts.items():
            with transaction.atomic():
                if Repository.objects.filter(pk=repository_id).update(
                    pull_count=F("pull_count") + count
                ):
                    _add_to_day(repository_id, day, count)
                # else deleted since it was pulled
            del unwritten[(repository_id, day)]
    except DATABASE_FAILURES:
        pull_buffer().give_back(unwritten)
        raise
    if counts:
        search_index_refresh(repository_ids={repository_id for repository_id, _ in counts})


def _add_to_day(repository_id, day, count):
    rows = PullDay.objects.filter(repository_id=repository_id, day=day)
    if rows.update(count=F("count") + count):
        return
    try:
        with transaction.atomic():
            PullDay.objects.create(repository_id=repository_id, day=day, count=count)
    except IntegrityError:  # another process created the day's row first
        rows.update(count=F("count") + count)
