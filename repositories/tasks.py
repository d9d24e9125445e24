from celery import shared_task
from django.conf import settings

from . import services


@shared_task
def upload_sweep_task():
    return services.upload_sweep(older_than=settings.HUB_UPLOAD_MAX_AGE)
