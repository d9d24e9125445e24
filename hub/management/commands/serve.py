"""Start Hub: migrate, make sure the admin account exists, then run the web
server (gunicorn, several processes) and a Celery worker until interrupted."""

import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run Hub's web server and worker (what `make run` does)."

    def add_arguments(self, parser):
        parser.add_argument("--no-worker", action="store_true", help="start no Celery worker")

    def handle(self, *args, no_worker=False, **options):
        self.prepare_broker()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.ensure_admin()
        if settings.HUB_DEMO:
            call_command("hub_demo", if_empty=True, host=settings.HUB_ADDR)

        children = [self.start_web()]
        if not no_worker:
            children.extend(self.start_workers())
        self.stdout.write(self.style.SUCCESS(f"Hub is running at http://{settings.HUB_ADDR}/"))
        self.stdout.write("Press Ctrl-C to stop.")
        self.wait(children)

    def ensure_admin(self):
        User = get_user_model()
        password = os.environ.get("HUB_ADMIN_PASSWORD")
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            generated = password is None
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@localhost", password)
            if generated:
                self.stdout.write(f"Created the superuser 'admin' with password: {password}")
        elif password is not None and not admin.check_password(password):
            admin.set_password(password)
            admin.save(update_fields=["password"])

    def start_web(self):
        command = [
            sys.executable, "-m", "gunicorn", "hub.wsgi:application",
            "--bind", settings.HUB_ADDR,
            "--workers", str(settings.HUB_WEB_WORKERS),
            "--worker-class", "gthread",
            "--threads", str(settings.HUB_WEB_THREADS),
            "--timeout", "120",
            "--graceful-timeout", "10",
            "--error-logfile", "-",
            "--no-control-socket",
        ]  # fmt: skip
        return subprocess.Popen(command, cwd=settings.BASE_DIR)

    def prepare_broker(self):
        """The embedded broker's folders must exist before anything is queued."""
        os.makedirs(settings.DATA_DIR, exist_ok=True)
        for folder in getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).values():
            if isinstance(folder, str) and folder.startswith(str(settings.DATA_DIR)):
                os.makedirs(folder, exist_ok=True)

    def start_workers(self):
        worker = [sys.executable, "-m", "celery", "--app", "hub", "worker", "--loglevel", "INFO"]
        # Builds get a worker of their own, so a long build never holds up
        # notifications or housekeeping.
        return [
            subprocess.Popen(
                [
                    *worker, "--queues", "celery", "--concurrency", "2", "--hostname", "main@%h",
                    "--beat", "--schedule", str(settings.DATA_DIR / "celerybeat-schedule"),
                ],
                cwd=settings.BASE_DIR,
            ),
            subprocess.Popen(
                [
                    *worker, "--queues", "builds", "--hostname", "builds@%h",
                    "--concurrency", str(settings.HUB_BUILD_WORKERS),
                ],
                cwd=settings.BASE_DIR,
            ),
        ]  # fmt: skip

    def wait(self, children):
        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        self.died = None
        try:
            while self.died is None:
                self.died = next((c for c in children if c.poll() is not None), None)
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    child.kill()
        if self.died is not None:
            raise CommandError(f"{self.died.args[2]} exited with status {self.died.returncode}")
