"""System calls that take long, run where they hold up nobody else.

The web server serves each connection in a greenlet (hub/gunicorn.conf.py).
A call that keeps the CPU in the kernel for milliseconds, such as writing a
megabyte of an upload to disk, stops every greenlet of its process while it
runs. start() hands such a call to one of gevent's native threads and
returns at once; get() on what it returns waits for the result (or raises
the call's exception) while the process serves others. A caller can receive
the next chunk of an upload while the last one is written.

Outside gevent's workers (Celery, tests, management commands) the call runs
at once, in the caller's thread, and get() only returns its outcome."""

import sys

from django.db import connection


def start(function, *args):
    """Run ``function(*args)``; returns an object whose get() gives its result.

    Inside a transaction the call runs at once too. On SQLite a transaction
    holds the database's write lock (Hub begins them IMMEDIATE); were this
    greenlet to let others run meanwhile, one of them asking for that lock
    would wait for it inside SQLite, stopping the whole process, this
    greenlet included, until its wait timed out."""
    pool = _native_threads()
    if pool is None or connection.in_atomic_block:
        return _Finished(function, *args)
    return pool.spawn(function, *args)


def _native_threads():
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    import gevent

    return gevent.get_hub().threadpool


class _Finished:
    def __init__(self, function, *args):
        self._error = None
        try:
            self._value = function(*args)
        except Exception as error:  # raised by get(), as a thread's would be
            self._error = error

    def get(self):
        if self._error is not None:
            raise self._error
        return self._value
