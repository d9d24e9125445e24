"""A Redis cache that Hub can do without.

Everything Hub caches can be answered again from the database, so Redis is
an accelerator, not a dependency. While it cannot be reached, this backend
(Django's RedisCache, with the same options) answers every read with a miss
and skips every write, add, incr and delete instead of raising, and requests
go to the database: slower, but pulls and pushes keep working.

Going away
    A connection error or a timeout marks Redis unreachable for the whole
    process (Django makes one cache object per thread; they share this
    state). Connecting and each answer wait at most ``socket_connect_timeout``
    and ``socket_timeout`` (HUB_CACHE_TIMEOUT, half a second), and redis-py
    does not retry. For ``retry_after`` seconds (an OPTIONS key, 2 by default)
    nothing is sent to Redis at all, so requests do not each wait out a
    timeout; then one operation tries again. Going away and coming back are
    logged once each, as warnings.

Coming back
    A write skipped during an outage, or one that timed out and may or may
    not have happened, can leave an entry behind that no longer tells the
    truth: a deleted repository, the generation token of a repository whose
    tag moved meanwhile. Any process may read such an entry, and the process
    that skipped the write may be another one. So entries are not mended one
    by one; the whole key space is renewed:

    * Every entry's Redis key ends in the current *epoch*, a random token
      kept in Redis itself (``<KEY_PREFIX>:cache-epoch``).
    * Every read fetches the epoch in the same MGET as the entries (no extra
      round trip); every write runs in one MULTI/EXEC with a read of the
      epoch. An operation that ran under an epoch that is not the current
      one is run again under the current one. So no process reads or writes
      under an old epoch, however long ago it last looked.
    * A process that lost Redis sets a new epoch when Redis answers again,
      before it reads or writes anything else there. From then on every
      process ignores every entry written before; those entries expire with
      their timeouts (or are evicted). A command sent before the outage and
      carried out only after it was made with the old epoch, so it lands
      where nobody looks. A Redis restarted from a snapshot, or a failover
      to a replica that missed the last writes, is renewed the same way by
      the processes that lost it meanwhile.
    * An epoch that is missing (a Redis that restarted empty) is created
      anew, as a random token that was never an epoch before.

    What this cannot cover: a process that skipped a write and ended before
    Redis came back does not renew the epoch; such an entry stays until its
    timeout (Hub's lookups keep at most HUB_MANIFEST_CACHE_SECONDS). While
    only some processes cannot reach Redis (a network partition), the others
    still read what those could not invalidate, until it ends. And a Redis
    that restarts from a snapshot while no process is using it (so none
    lost it) brings back what the snapshot held, deletes made after it
    undone: run the cache's Redis without persistence (``--save ''
    --appendonly no``), as a cache needs none.

``clear()`` starts a new epoch instead of running FLUSHDB, so a Redis
database shared with something else (a Celery broker) is left alone.
"""

import logging
import secrets
import threading
import time
from urllib.parse import urlsplit

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)

# An operation is run again under a newer epoch at most this often; epochs
# change only when a process comes back from an outage, so once is the rule.
EPOCH_ATTEMPTS = 3


class _Reachability:
    """What one process knows of one Redis: whether it answers, and the
    epoch it last saw there."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_since = None  # time.monotonic() when it went away, or None
        self.retry_at = 0.0
        self.epoch = None


# Django makes one cache object per thread; what one of them learns about a
# Redis holds for all of them, so it is kept here, per server and key prefix.
_reachability = {}
_reachability_lock = threading.Lock()


def _reachability_of(servers, key_prefix):
    with _reachability_lock:
        return _reachability.setdefault((tuple(servers), key_prefix), _Reachability())


def _describe(url):
    """The server's address without any password, for the log."""
    parts = urlsplit(url)
    address = parts.hostname or ""
    if parts.port:
        address += f":{parts.port}"
    return f"{parts.scheme}://{address}{parts.path}"


class ResilientRedisCache(RedisCache):
    """Django's RedisCache, for which Redis is optional (see above). Its
    OPTIONS are Django's (passed to redis-py) plus ``retry_after``."""

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS", {}))
        self._retry_after = float(options.pop("retry_after", 2.0))
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        # Waiting is what this backend avoids; the next request tries again.
        options.setdefault("retry", Retry(NoBackoff(), 0))
        super().__init__(server, {**params, "OPTIONS": options})
        self._state = _reachability_of(self._servers, self.key_prefix)
        self._epoch_key = f"{self.key_prefix}:cache-epoch"
        self._where = _describe(self._servers[0])

    # Reachability ---------------------------------------------------------

    def _available(self):
        """Whether to send anything to Redis now. Once the pause after an
        outage is over, this thread tries to come back (with a new epoch)
        while the others go on skipping."""
        state = self._state
        if state.down_since is None:
            return True
        with state.lock:
            if state.down_since is None:
                return True
            now = time.monotonic()
            if now < state.retry_at:
                return False
            state.retry_at = now + self._retry_after
        try:
            epoch = self._new_epoch()
        except UNREACHABLE:
            return False
        with state.lock:
            if state.down_since is None:
                return True
            away = time.monotonic() - state.down_since
            state.down_since = None
            state.epoch = epoch
        logger.warning(
            "Redis cache at %s is back after %.1f s; what it held before is ignored",
            self._where,
            away,
        )
        return True

    def _went_away(self, error):
        state = self._state
        with state.lock:
            now = time.monotonic()
            state.retry_at = now + self._retry_after
            if state.down_since is not None:
                return
            state.down_since = now
        logger.warning(
            "Redis cache at %s is unreachable (%s); answering from the database until it is back",
            self._where,
            error,
        )

    def _attempt(self, run, default):
        if not self._available():
            return default
        try:
            return run()
        except UNREACHABLE as error:
            self._went_away(error)
            return default

    # Epochs ---------------------------------------------------------------

    def _new_epoch(self):
        epoch = secrets.token_hex(8)
        self._cache.get_client(None, write=True).set(self._epoch_key, epoch)
        self._state.epoch = epoch
        return epoch

    def _adopt_epoch(self, current):
        """Take ``current`` (as Redis returned it; None when it has none,
        which creates one) as the epoch from now on."""
        if current is None:
            client = self._cache.get_client(None, write=True)
            client.set(self._epoch_key, secrets.token_hex(8), nx=True)
            current = client.get(self._epoch_key)
            if current is None:  # evicted at once; a miss is always safe
                raise RedisConnectionError("the cache epoch could not be kept")
        epoch = current.decode()
        self._state.epoch = epoch
        return epoch

    def _known_epoch(self, client):
        return self._state.epoch or self._adopt_epoch(client.get(self._epoch_key))

    @staticmethod
    def _stored_key(key, epoch):
        return f"{key}#{epoch}"

    def _read(self, keys):
        """The raw values of ``keys`` (made keys) in the current epoch, None
        for each one missing."""
        missing = [None] * len(keys)

        def run():
            client = self._cache.get_client(None)
            epoch = self._known_epoch(client)
            for _ in range(EPOCH_ATTEMPTS):
                current, *values = client.mget(
                    [self._epoch_key, *(self._stored_key(key, epoch) for key in keys)]
                )
                if current is not None and current.decode() == epoch:
                    return values
                epoch = self._adopt_epoch(current)
            return missing

        return self._attempt(run, missing)

    def _write(self, commands, default):
        """The results of the commands ``commands(pipeline, stored_key)``
        queues, run atomically with a read of the epoch, and run again if
        that epoch is not the one their keys were made with."""

        def run():
            client = self._cache.get_client(None, write=True)
            epoch = self._known_epoch(client)
            for _ in range(EPOCH_ATTEMPTS):
                pipeline = client.pipeline(transaction=True)
                pipeline.get(self._epoch_key)
                commands(pipeline, lambda key, epoch=epoch: self._stored_key(key, epoch))
                current, *results = pipeline.execute()
                if current is not None and current.decode() == epoch:
                    return results
                epoch = self._adopt_epoch(current)
            # The write may have missed a live epoch every time; a new one
            # leaves nothing behind that it should have changed.
            self._new_epoch()
            return default

        return self._attempt(run, default)

    # The cache API --------------------------------------------------------

    @property
    def _serializer(self):
        return self._cache._serializer

    def get(self, key, default=None, version=None):
        key = self.make_and_validate_key(key, version=version)
        (value,) = self._read([key])
        return default if value is None else self._serializer.loads(value)

    def get_many(self, keys, version=None):
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        values = self._read(list(key_map))
        return {
            key_map[key]: self._serializer.loads(value)
            for key, value in zip(key_map, values, strict=True)
            if value is not None
        }

    def has_key(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        (value,) = self._read([key])
        return value is not None

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self.set_many({key: value}, timeout, version=version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        if not data:
            return []
        made = {self.make_and_validate_key(key, version=version): key for key in data}
        timeout = self.get_backend_timeout(timeout)

        def commands(pipeline, stored):
            for key, original in made.items():
                if timeout == 0:
                    pipeline.delete(stored(key))
                else:
                    pipeline.set(stored(key), self._serializer.dumps(data[original]), ex=timeout)

        # Django's own backend reports no failed keys; skipped, all of them failed.
        return [] if self._write(commands, None) is not None else list(data)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        timeout = self.get_backend_timeout(timeout)

        def commands(pipeline, stored):
            if timeout == 0:  # stored and gone at once: only whether it was absent
                pipeline.exists(stored(key))
            else:
                pipeline.set(stored(key), self._serializer.dumps(value), ex=timeout, nx=True)

        (result,) = self._write(commands, [None])
        return not result if timeout == 0 and result is not None else bool(result)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        timeout = self.get_backend_timeout(timeout)

        def commands(pipeline, stored):
            if timeout is None:
                pipeline.persist(stored(key))
            else:
                pipeline.expire(stored(key), timeout)

        (result,) = self._write(commands, [False])
        return bool(result)

    def delete(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        (result,) = self._write(lambda pipeline, stored: pipeline.delete(stored(key)), [0])
        return bool(result)

    def delete_many(self, keys, version=None):
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        if made:
            self._write(lambda pipeline, stored: pipeline.delete(*map(stored, made)), [0])

    def incr(self, key, delta=1, version=None):
        """As Django's: ValueError for a missing key, which is what every key
        is while Redis is unreachable."""
        made = self.make_and_validate_key(key, version=version)
        (value,) = self._read([made])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        (result,) = self._write(
            lambda pipeline, stored: pipeline.incrby(stored(made), delta), [None]
        )
        if result is None:
            raise ValueError(f"Key '{key}' not found.")
        return result

    def clear(self):
        return self._attempt(lambda: bool(self._new_epoch()), False)
