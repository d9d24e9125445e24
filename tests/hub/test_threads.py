"""hub.threads outside gevent's workers: the call runs at once, and get()
gives its outcome. (In the web server, tests/e2e/test_slow_clients.py shows
the calls running beside other requests.)"""

import pytest

from hub import threads


def test_get_returns_what_the_call_returned():
    calls = []
    started = threads.start(lambda *args: calls.append(args) or "done", 1, 2)
    assert calls == [(1, 2)]  # ran already
    assert started.get() == "done"


def test_get_raises_what_the_call_raised():
    def full_disk():
        raise OSError(28, "No space left on device")

    started = threads.start(full_disk)
    with pytest.raises(OSError, match="No space left"):
        started.get()
