"""Handing work to Celery without letting the broker fail a request.

What is queued through here is written down in the database first (an
event, a build, a webhook delivery), and a periodic task finds what was never
picked up. So a message that cannot be sent is not an error to show anyone:
it is logged, and the periodic task sends it later. A registry push whose
transaction committed is answered as a success even while the broker is
down."""

import logging

from django.db import InterfaceError, OperationalError, transaction

logger = logging.getLogger(__name__)


def enqueue(task, *args):
    """Send ``task`` with ``args`` now. Returns False, having logged why,
    when the broker did not take it."""
    try:
        task.delay(*args)
    except Exception as error:  # kombu's OperationalError, a socket error, a full disk…
        # One line, not a traceback: while the broker is down there is one per message.
        logger.warning(
            "Could not queue %s%r (%s: %s); it waits in the database for a periodic task.",
            task.name,
            args,
            type(error).__name__,
            error,
        )
        return False
    return True


def enqueue_on_commit(task, *args):
    """Send ``task`` with ``args`` once the current transaction commits, as
    ``enqueue`` does: a broker that is down is logged, not raised."""
    transaction.on_commit(lambda: enqueue(task, *args))


def enqueue_each_on_commit(task, calls):
    """Send ``task`` once for each tuple of arguments in ``calls`` after the
    transaction commits. Stops at the first message the broker refuses: the
    rest would wait for it too, and the periodic task that chose them will
    choose them again."""
    calls = list(calls)
    if not calls:
        return

    def send():
        for args in calls:
            if not enqueue(task, *args):
                break

    transaction.on_commit(send)


# For tasks whose work is kept in the database: one that finds the database
# down tries again shortly (1 s, doubling to a minute) instead of leaving its
# row to the periodic task, which looks only every few minutes.
RETRY_WHILE_DATABASE_DOWN = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "max_retries": 20,
}
