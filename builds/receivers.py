"""Builds listen to the repositories app's events.

A receiver runs on a worker, inside the transaction that marks the event
delivered (``repositories.events.event_deliver``): the builds and webhook
deliveries it writes commit together with that mark, and their messages are
queued after it. A receiver that raises leaves the event undelivered, with
nothing written, to be delivered again."""

from repositories import events

from . import services


def on_image_pushed(sender, *, repository_id, digest, tags, pusher_id, **kwargs):
    services.image_pushed_build_links(repository_id=repository_id, tags=tags)
    services.repository_webhooks_notify(repository_id=repository_id, tags=tags, pusher_id=pusher_id)


def connect():
    events.image_pushed.connect(on_image_pushed, dispatch_uid="builds.on_image_pushed")
