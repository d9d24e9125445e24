"""Start Hub: migrate, make sure the admin account exists, then run the web
server (gunicorn), the Celery workers and the Celery beat scheduler, and keep
them running until told to stop.

That is the role `all`, the default. One role alone runs one part, for
deployments that scale each part on its own (a container per role):

    serve migrate   apply migrations and create the admin account, then exit
    serve web       the web server (gunicorn)
    serve worker    a Celery worker for everything but builds
    serve builds    a Celery worker for builds
    serve beat      the Celery beat scheduler (run exactly one)

`web`, `worker`, `builds` and `beat` become that program (exec): the
process manager or container runtime then signals it directly, and it stops
gracefully on SIGTERM by itself. They neither migrate nor create accounts;
run `serve migrate` first, once per upgrade.

`serve` is a small supervisor. A child that exits unexpectedly is logged and
started again after a pause that doubles with each quick failure (1 s up to a
minute; a child that stayed up a while starts over at 1 s); the others run
on. SIGTERM or SIGINT stops every child: each is asked to stop (SIGTERM),
given HUB_WEB_GRACEFUL_TIMEOUT seconds and a little more, then killed. The
children die with `serve` too, even when it is killed outright, so a
restarted `serve` finds its address free and no worker left behind."""

import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, connection, transaction

logger = logging.getLogger("hub.serve")

PR_SET_PDEATHSIG = 1
# Pauses before starting a child that exited again: FIRST_PAUSE seconds,
# doubling up to MAX_PAUSE. A child that ran for STABLE_SECONDS was fine
# before it died, and starts over at FIRST_PAUSE.
FIRST_PAUSE = 1.0
MAX_PAUSE = 60.0
STABLE_SECONDS = 60.0
POLL_SECONDS = 0.2
# Beyond the children's own graceful timeout, before they are killed.
STOP_MARGIN_SECONDS = 3.0
# Any number, the same in every process: the key of the PostgreSQL lock that
# lets one `serve` at a time migrate and create the admin account.
STARTUP_LOCK_KEY = 0x4855425F5345  # "HUB_SE"


def die_with_parent():
    """A preexec_fn that has the kernel kill the child when `serve` dies,
    however it dies. The C function is looked up here, in `serve`: between
    fork and exec the child should do no more than call it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None
    return functools.partial(prctl, PR_SET_PDEATHSIG, signal.SIGKILL)


def describe_exit(returncode):
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Child:
    """One supervised program: started again, after a pause, when it exits."""

    def __init__(self, name, argv):
        self.name = name
        self.argv = argv
        self.process = None
        self.started_at = 0.0
        self.failures = 0
        self.start_at = 0.0  # when to start it (again), while it is not running

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        self.process = subprocess.Popen(
            self.argv,
            cwd=settings.BASE_DIR,
            stdin=subprocess.DEVNULL,
            # A process group of its own: a terminal's Ctrl-C reaches `serve`
            # alone, which then stops the children in order; and a child's
            # own helpers (Celery's pool processes) can be killed with it.
            process_group=0,
            preexec_fn=die_with_parent(),
        )
        self.started_at = time.monotonic()
        logger.info("Started %s (pid %s)", self.name, self.process.pid)

    def check(self, now):
        """Notice an exit and schedule the restart; start it when it is due."""
        if self.process is None:
            if now >= self.start_at:
                self.start()
            return
        returncode = self.process.poll()
        if returncode is None:
            return
        if now - self.started_at >= STABLE_SECONDS:
            self.failures = 0
        pause = min(FIRST_PAUSE * 2**self.failures, MAX_PAUSE)
        self.failures += 1
        logger.error(
            "%s (pid %s) %s; starting it again in %g s",
            self.name,
            self.process.pid,
            describe_exit(returncode),
            pause,
        )
        self.process = None
        self.start_at = now + pause

    def signal(self, signum, *, group=False):
        """Signal the child, or its whole process group, which may outlive it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.process.pid, signum)
            elif self.process.poll() is None:
                self.process.send_signal(signum)


ROLES = ("all", "migrate", "web", "worker", "builds", "beat")


class Command(BaseCommand):
    help = "Run Hub's web server, workers and scheduler (what `make run` does), or one of them."

    def add_arguments(self, parser):
        parser.add_argument(
            "role",
            nargs="?",
            default="all",
            choices=ROLES,
            help="what to run (default: all of it, after migrating)",
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="all: start no Celery worker and no beat"
        )

    def handle(self, *args, role="all", no_worker=False, **options):
        if no_worker and role != "all":
            raise CommandError(f"--no-worker goes with the role all, not {role}.")
        self.prepare_broker()
        if role in ("all", "migrate"):
            with self.startup_lock():
                call_command("migrate", interactive=False, verbosity=0)
                self.ensure_admin()
                if settings.HUB_DEMO:
                    call_command("hub_demo", if_empty=True, host=settings.HUB_ADDR)
        if role in ("all", "web") and settings.HUB_COLLECT_STATIC:
            call_command("collectstatic", interactive=False, verbosity=0)
        # Each child opens its own connections; this one would only idle.
        connection.close()
        if role == "migrate":
            return
        if role != "all":
            (child,) = [child for child in [self.web(), *self.workers()] if child.name == role]
            self.stdout.flush()
            os.chdir(settings.BASE_DIR)
            os.execv(child.argv[0], child.argv)

        # Every process that writes metrics starts here: what files the
        # directory holds are an earlier run's, whose process ids may be
        # this run's too (in a container they are the same every time).
        for path in Path(settings.HUB_METRICS_DIR).glob("*.db"):
            path.unlink(missing_ok=True)
        children = [self.web()]
        if not no_worker:
            children.extend(self.workers())
        scheme = "https" if settings.HUB_TLS_CERT else "http"
        self.say(f"Hub is running at {scheme}://{settings.HUB_ADDR}/", self.style.SUCCESS)
        self.say("Press Ctrl-C to stop.")
        self.stdout.flush()
        self.supervise(children)

    def say(self, message, style=None):
        """A line for whoever started Hub: on standard output, or a log
        record where the log is JSON lines (and nothing else may be)."""
        if settings.HUB_LOG_FORMAT == "json":
            logger.info("%s", message)
        else:
            self.stdout.write(style(message) if style else message)

    @contextlib.contextmanager
    def startup_lock(self):
        """One `serve` at a time migrates and creates the admin account when
        several start at once on one database (one per host on PostgreSQL,
        say): two migrating at once would both create the same tables."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [STARTUP_LOCK_KEY])
            try:
                yield
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [STARTUP_LOCK_KEY])
        elif connection.vendor == "sqlite":
            # Everything that shares a SQLite file runs on its host.
            with open(f"{connection.settings_dict['NAME']}.serve-lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                yield
        else:
            yield

    def ensure_admin(self):
        User = get_user_model()
        password = os.environ.get("HUB_ADMIN_PASSWORD")
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            generated = password is None
            password = password or secrets.token_urlsafe(12)
            try:
                with transaction.atomic():
                    User.objects.create_superuser("admin", "admin@localhost", password)
            except IntegrityError:
                # Another `serve` on the same database created it first.
                return
            if generated:
                self.say(f"Created the superuser 'admin' with password: {password}")
        elif password is not None and not admin.check_password(password):
            admin.set_password(password)
            admin.save(update_fields=["password"])

    def prepare_broker(self):
        """The embedded broker's folders must exist before anything is queued."""
        os.makedirs(settings.DATA_DIR, exist_ok=True)
        for folder in getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).values():
            if isinstance(folder, str) and folder.startswith(str(settings.DATA_DIR)):
                os.makedirs(folder, exist_ok=True)

    def web(self):
        # Everything else comes from the configuration file (and so from the
        # HUB_WEB_* settings), or from GUNICORN_CMD_ARGS, which overrides it.
        config = settings.BASE_DIR / "hub" / "gunicorn.conf.py"
        return Child("web", [sys.executable, "-m", "gunicorn", "--config", str(config)])

    def workers(self):
        celery = [sys.executable, "-m", "celery", "--app", "hub"]
        if settings.HUB_LOG_FORMAT == "json":
            # No banner: the log is JSON lines, and the banner is not a record.
            celery.append("--quiet")
        worker = [*celery, "worker", "--loglevel", "INFO"]
        main = [*worker, "--queues", "celery", "--concurrency", "2", "--hostname", "main@%h"]
        builds = [
            *worker, "--queues", "builds", "--hostname", "builds@%h",
            "--concurrency", str(settings.HUB_BUILD_WORKERS),
        ]  # fmt: skip
        beat = [
            *celery, "beat", "--loglevel", "INFO",
            "--schedule", str(settings.DATA_DIR / "celerybeat-schedule"),
        ]  # fmt: skip
        return [
            Child("worker", main),
            # Builds get a worker of their own, so a long build never holds up
            # notifications or housekeeping.
            Child("builds", builds),
            # The scheduler runs on its own, not inside a worker (--beat): a
            # worker restarted or stopped then neither doubles it nor loses it.
            Child("beat", beat),
        ]

    def supervise(self, children):
        stop_requests = []

        def request_stop(signum, frame):
            stop_requests.append(signum)

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        for child in children:
            child.start()
        while not stop_requests:
            now = time.monotonic()
            for child in children:
                child.check(now)
            time.sleep(POLL_SECONDS)
        logger.info("Stopping (%s)", signal.Signals(stop_requests[0]).name)
        self.stop(children, stop_requests)

    def stop(self, children, stop_requests):
        asked = len(stop_requests)
        for child in children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + settings.HUB_WEB_GRACEFUL_TIMEOUT + STOP_MARGIN_SECONDS
        # A second Ctrl-C (or SIGTERM) means now.
        waiting = [child for child in children if child.process is not None]
        while waiting and time.monotonic() < deadline and len(stop_requests) == asked:
            for child in [child for child in waiting if not child.running]:
                logger.info("%s %s", child.name, describe_exit(child.process.returncode))
                waiting.remove(child)
            time.sleep(POLL_SECONDS)
        for child in children:
            if child.running:
                logger.warning("%s did not stop in time; killing it", child.name)
            # The whole group: what a child started (Celery's pool processes)
            # goes with it.
            child.signal(signal.SIGKILL, group=True)
        for child in children:
            if child.process is not None:
                child.process.wait()
