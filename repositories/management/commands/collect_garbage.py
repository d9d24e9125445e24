from django.conf import settings
from django.core.management.base import BaseCommand

from repositories import services


class Command(BaseCommand):
    help = (
        "Delete stale upload sessions, repositories abandoned pushes left, "
        "and blobs that no manifest references."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=int,
            default=settings.HUB_GC_GRACE_SECONDS,
            help="keep blobs pushed less than this many seconds ago (default: %(default)s)",
        )

    def handle(self, *args, grace, **options):
        uploads = services.upload_sweep(older_than=settings.HUB_UPLOAD_MAX_AGE)
        # Before the blobs: an abandoned repository's links go with it, which
        # lets its blobs go in this same run.
        repositories = services.repository_sweep_pending(older_than=settings.HUB_UPLOAD_MAX_AGE)
        blobs = services.blob_collect_garbage(grace_seconds=grace)
        self.stdout.write(
            f"Deleted {blobs} blobs, {uploads} stale uploads "
            f"and {repositories} abandoned repositories."
        )
