import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.base")

# Celery discourages a worker running as root with a warning on every start.
# Hub runs as root where its builds need it (buildah in a container or on a
# build host), and the danger Celery guards against cannot arise: a root
# worker unpickling a message. Hub's workers accept JSON only, and Celery
# refuses outright to start as root when pickle is accepted.
warnings.filterwarnings(
    "ignore",
    message="You're running the worker with superuser privileges",
    category=SecurityWarning,
    module="celery.platforms",
)

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


@setup_logging.connect
def configure_logging(**kwargs):
    """Workers and beat log as the web processes do, through Django's LOGGING
    (HUB_LOG_FORMAT, HUB_LOG_LEVEL), rather than through the handlers Celery
    would put on the root logger in its place."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
