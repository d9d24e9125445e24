"""Builds listen to the repositories app's events and hand them to Celery."""

from repositories import events


def on_image_pushed(sender, *, repository_id, digest, tags, pusher_id, **kwargs):
    from .tasks import image_pushed_task

    image_pushed_task.delay(repository_id, digest, tags, pusher_id)


def connect():
    events.image_pushed.connect(on_image_pushed, dispatch_uid="builds.on_image_pushed")
