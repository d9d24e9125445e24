import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.base")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # Celery gives up on an unreachable broker after 100 attempts (about 45
    # minutes, the pause growing to 30 s), and the worker or beat then exits
    # for good. A broker that comes back later must find them still waiting.
    broker_connection_max_retries=None,
    # Said outright: Celery 6 stops reading this from broker_connection_retry,
    # and a worker started while the broker is down must wait for it too.
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks()
