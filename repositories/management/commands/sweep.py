from django.conf import settings
from django.core.management.base import BaseCommand

from repositories import blobstore, services


class Command(BaseCommand):
    help = (
        "Sweep once what failed and abandoned pushes leave: idle upload sessions, the "
        "empty repositories their pushes began, upload storage no session owns, and "
        "this host's scratch files that no request holds. Celery beat runs the same "
        "every ten minutes on one worker."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scratch-only",
            action="store_true",
            help=(
                "sweep only this host's scratch directory (HUB_SCRATCH_DIR), touching no "
                "database or shared storage: for hosts that serve uploads but run no worker"
            ),
        )

    def handle(self, *args, scratch_only=False, **options):
        if scratch_only:
            counts = {"scratch": blobstore.scratch_sweep(older_than=settings.HUB_SCRATCH_MAX_AGE)}
        else:
            counts = services.leftovers_sweep(
                upload_max_age=settings.HUB_UPLOAD_MAX_AGE,
                scratch_max_age=settings.HUB_SCRATCH_MAX_AGE,
            )
        labels = {
            "uploads": "stale upload sessions",
            "repositories": "abandoned repositories",
            "parts": "orphaned upload parts",
            "staging": "orphaned staging files",
            "scratch": "scratch files",
        }
        self.stdout.write(
            "Deleted " + ", ".join(f"{counts[kind]} {labels[kind]}" for kind in counts) + "."
        )
