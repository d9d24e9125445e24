"""What the repositories app tells the rest of Hub, as Django signals sent
after the change has committed. Receivers must only hand the event on (to a
Celery task, say): the registry request that sent it is still waiting.

``image_pushed``: a manifest was pushed under one or more tags.
Arguments: ``repository_id``, ``digest``, ``tags`` (a list) and
``pusher_id`` (None for an anonymous or unknown pusher)."""

from django.db import transaction
from django.dispatch import Signal

image_pushed = Signal()


def image_pushed_send(*, repository_id, digest, tags, pusher_id):
    def send():
        image_pushed.send(
            sender=image_pushed_send,
            repository_id=repository_id,
            digest=digest,
            tags=list(tags),
            pusher_id=pusher_id,
        )

    transaction.on_commit(send)
