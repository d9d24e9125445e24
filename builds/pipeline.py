"""What a build worker does with one build: clone the commit, build its
Dockerfile, push every tag into Hub, and record how it went.

Every command runs through a ``Runner``: its output goes into the build's
log (build variables and credentials masked), a heartbeat tells the reaper
the worker is alive, and the command is killed when the build is canceled
or runs past HUB_BUILD_TIMEOUT. Commands die with the worker process too,
so a killed worker leaves nothing running.

The build pushes with a token of its own, limited to its repository and
revoked when the build ends; nobody's password is involved."""

import json
import logging
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.db import close_old_connections, connection
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AccessToken
from repositories import permissions
from repositories import services as repository_services
from repositories.models import Manifest

from . import net, rules, services
from .builders import BuildEnvironment, builder_for
from .models import Build, Provider
from .sources import source_for

logger = logging.getLogger(__name__)

HOOKS = ("post_checkout", "pre_build", "post_push")
LOG_FLUSH_SECONDS = 0.5
LOG_FLUSH_BYTES = 64 * 1024
OUTPUT_TAIL_LINES = 200
# "STEP 3/5: RUN make" (buildah), "Step 3/5 : RUN make" (Docker's classic
# builder) or "#7 [builder 3/5] RUN make" (BuildKit).
STEP_RES = (
    re.compile(r"^(STEP \d+/\d+: .*)$"),
    re.compile(r"^(Step \d+/\d+ : .*)$"),
    re.compile(r"^#\d+ \[(?:[^\]]* )?\d+/\d+\] (.*)$"),
)
WORKSPACE_RE = re.compile(r"^build-(\d+)-")
ERROR_LINE_RE = re.compile(r"^\s*(error|fatal|ERROR)\b", re.IGNORECASE)
ARG_RE = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE | re.IGNORECASE)


class StepFailed(Exception):
    """A step of the build failed; the message is for the user."""

    def __init__(self, message, step=""):
        super().__init__(message)
        self.step = step


class Stopped(Exception):
    """The build was canceled, reaped, or ran out of time."""


@dataclass
class Result:
    returncode: int
    output: str


# Every command of a build runs under this small program (``python -c``),
# which keeps the command's whole process tree in hand. A build's processes
# do not stay in one process group: buildah and runc start a RUN step in
# sessions of their own, and a process whose parent exits is handed to init.
# So the watchdog makes itself a child subreaper (PR_SET_CHILD_SUBREAPER):
# whatever its command starts stays below it, whichever session it joins and
# whichever of its parents exits first. It ends that whole tree, found
# through /proc, when the command exits (nothing a step starts may outlive
# the step), when it is told to stop (SIGTERM, from Runner.stop), and when
# the worker process dies, however it dies (PR_SET_PDEATHSIG sends it
# SIGTERM then). It runs without Django or site-packages, so it starts in a
# few milliseconds, and exits the way its command did (the same status, or
# killed by the same signal). Its first line on the status pipe says whether
# the command started: {"pid": ...}, or the error that prevented it.
_WATCHDOG = r"""
import ctypes, json, os, signal, subprocess, sys, time

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
STOP = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
status_fd, worker, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
# Signals are taken with sigtimedwait below, never by a handler, so none is
# lost or arrives halfway through ending the tree.
signal.pthread_sigmask(signal.SIG_BLOCK, STOP | {signal.SIGCHLD})
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1) or libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM):
    raise OSError(ctypes.get_errno(), "prctl failed")


def report(message):
    os.write(status_fd, (json.dumps(message) + "\n").encode())
    os.close(status_fd)


def reap():
    exited = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return exited
        if not pid:
            return exited
        exited[pid] = os.waitstatus_to_exitcode(status)


def tree():
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(b")") + 2 :].split()[:2]
        children.setdefault(int(ppid), []).append((int(name), state))
    found, parents = [], [os.getpid()]
    while parents:
        for pid, state in children.get(parents.pop(), ()):
            found.append((pid, state))
            parents.append(pid)
    return found


def end_tree():
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = tree()
        if not found:
            return
        for pid, state in found:
            if state != b"Z":
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:  # gone already, or not ours to kill (setuid)
                    pass
        reap()
        time.sleep(0.01)


if os.getppid() != worker:  # the worker died before PR_SET_PDEATHSIG was set
    sys.exit(1)
try:
    command = subprocess.Popen(
        argv,
        start_new_session=True,
        preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, ()),
    )
except OSError as error:
    report({"errno": error.errno, "strerror": error.strerror, "filename": error.filename})
    sys.exit(127)
report({"pid": command.pid})
returncode = None
while returncode is None:
    received = signal.sigtimedwait(STOP | {signal.SIGCHLD}, 1.0)
    if received is not None and received.si_signo in STOP:
        returncode = -received.si_signo
        break
    returncode = reap().get(command.pid)
command.returncode = returncode
end_tree()
if returncode < 0:
    signal.signal(-returncode, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {-returncode})
    os.kill(os.getpid(), -returncode)
    sys.exit(128 - returncode)
sys.exit(returncode)
"""


def descendants(pid):
    """The processes below ``pid``, from /proc (Linux): whatever session or
    process group they are in."""
    children = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, parents = [], [pid]
    while parents:
        below = children.get(parents.pop(), [])
        found.extend(below)
        parents.extend(below)
    return found


class Runner:
    """Runs a build's commands and keeps its log, heartbeat and deadline."""

    def __init__(self, build, *, deadline, secrets=()):
        self.build = build
        self.deadline = deadline
        self.secrets = []
        for secret in secrets:
            self.add_secret(secret)
        self.stop_reason = ""
        self.last_step = ""
        self._process = None
        self._lock = threading.Lock()
        self._pending = []
        self._pending_bytes = 0
        self._flushed_at = time.monotonic()
        self._done = threading.Event()
        self._beating = threading.Thread(target=self._beat, name=f"build-{build.pk}", daemon=True)

    def __enter__(self):
        self._beating.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._beating.join()
        self.flush()

    def add_secret(self, secret):
        # Short values would mask ordinary words; they are not worth hiding.
        if secret and len(secret) >= 4 and secret not in self.secrets:
            self.secrets.append(secret)
            self.secrets.sort(key=len, reverse=True)

    def mask(self, text):
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return text

    def log(self, text):
        text = self.mask(text)
        self._pending.append(text)
        self._pending_bytes += len(text)
        if (
            self._pending_bytes >= LOG_FLUSH_BYTES
            or time.monotonic() - self._flushed_at >= LOG_FLUSH_SECONDS
        ):
            self.flush()

    def flush(self):
        if self._pending:
            services.build_log_append(build=self.build, text="".join(self._pending))
            self._pending, self._pending_bytes = [], 0
        self._flushed_at = time.monotonic()

    def check(self):
        if self.stop_reason:
            raise Stopped(self.stop_reason)

    def run(self, argv, *, step, env=None, cwd=None, quiet=False, check=True):
        """Run ``argv``; its output goes into the log unless ``quiet``.
        Raises ``StepFailed`` when it fails (unless ``check`` is off) and
        ``Stopped`` when the build must stop."""
        self.check()
        self.last_step = step
        if not quiet:
            self.log(f"\n==> {step}\n")
        environment = {**os.environ, "LC_ALL": "C.UTF-8", **(env or {})}
        status_read, status_write = os.pipe()
        try:
            process = subprocess.Popen(
                [
                    sys.executable, "-I", "-S", "-c", _WATCHDOG,
                    str(status_write), str(os.getpid()), *[str(arg) for arg in argv],
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=environment,
                start_new_session=True,
                pass_fds=(status_write,),
            )  # fmt: skip
        except BaseException:
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        with self._lock:
            self._process = process
        if self.stop_reason:  # stopped between the check and the start
            self._kill(process)
        with open(status_read, "rb") as status:
            started = json.loads(status.readline() or "{}")
        if "pid" not in started:  # the command never ran: stopped, or it could not start
            process.stdout.close()
            process.wait()
            with self._lock:
                self._process = None
            self.check()
            if "errno" in started:
                raise OSError(started["errno"], started["strerror"], started["filename"])
            raise OSError(f"{argv[0]} could not be started (exit status {process.returncode})")
        tail = []
        lines = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        while True:
            try:
                line = lines.get(timeout=LOG_FLUSH_SECONDS)
            except queue.Empty:
                self.flush()
                continue
            if line is None:
                break
            tail.append(line)
            del tail[:-OUTPUT_TAIL_LINES]
            for step_re in STEP_RES:
                found = step_re.match(line.rstrip())
                if found:
                    self.last_step = found.group(1)
            if not quiet:
                self.log(line)
        returncode = process.wait()
        with self._lock:
            self._process = None
        self.flush()
        self.check()
        output = "".join(tail)
        if returncode != 0 and check:
            if quiet:
                self.log(self.mask(output))
            error = _error_line(tail)
            message = f"{step} failed: {error}" if error else f"{step} failed."
            raise StepFailed(
                self.mask(f"{message} (exit status {returncode})"), step=self.last_step
            )
        return Result(returncode, output)

    def _beat(self):
        interval = django_settings.HUB_BUILD_HEARTBEAT_SECONDS
        try:
            while not self._done.wait(interval):
                if time.monotonic() > self.deadline:
                    self.stop("timeout")
                elif not services.build_heartbeat(build=self.build):
                    self.stop("canceled")
        finally:
            connection.close()

    def stop(self, reason):
        self.stop_reason = self.stop_reason or reason
        with self._lock:
            if self._process is not None:
                self._kill(self._process)

    @staticmethod
    def _kill(process):
        """End a running command and every process below it. Its watchdog
        does that when told (SIGTERM); killing the tree from here as well
        needs nothing of the watchdog (one stopped by a debugger, say)."""
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for pid in descendants(process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # gone already, or not ours to kill (setuid)
                pass


def _error_line(lines):
    """The last line of a command's output that says what went wrong."""
    for line in reversed(lines):
        if ERROR_LINE_RE.match(line):
            return line.strip()
    return ""


def _read_lines(stream, lines):
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode(errors="replace"))
    stream.close()
    lines.put(None)


def build_run(*, build_id, worker, redelivered=False):
    """Run one dispatched build to its end (the task's one call)."""
    close_old_connections()
    build = services.build_claim(build_id=build_id, worker=worker, redelivered=redelivered)
    if build is None:
        return
    workspaces_sweep()
    try:
        Pipeline(build).run()
    finally:
        services.builds_dispatch()


def workspaces_root():
    return Path(django_settings.HUB_BUILD_DIR) / "work"


def workspaces_sweep():
    """Remove the workspaces of finished builds that a killed worker left on
    this host. A running build's workspace stays."""
    root = workspaces_root()
    if not root.is_dir():
        return
    found = {}
    for path in root.iterdir():
        build_id = WORKSPACE_RE.match(path.name)
        if build_id:
            found.setdefault(int(build_id.group(1)), []).append(path)
    running = set(
        Build.objects.filter(pk__in=found)
        .exclude(phase__in=Build.FINISHED_PHASES)
        .values_list("pk", flat=True)
    )
    for build_id, paths in found.items():
        if build_id not in running:
            for path in paths:
                shutil.rmtree(path, ignore_errors=True)


class Pipeline:
    def __init__(self, build):
        self.build = build
        self.settings = build.settings
        self.repository = build.repository
        self.variables = {v.name: v.value for v in self.settings.variables.all()}
        work = workspaces_root()
        work.mkdir(parents=True, exist_ok=True)
        self.workspace = Path(tempfile.mkdtemp(prefix=f"build-{build.pk}-", dir=work))
        self.checkout = self.workspace / "src"
        self.token = None
        self.builder = None

    def run(self):
        deadline = time.monotonic() + django_settings.HUB_BUILD_TIMEOUT
        runner = Runner(self.build, deadline=deadline, secrets=self.variables.values())
        try:
            with runner:
                outcome = self._steps(runner)
        finally:
            self._clean_up()
        self._record(runner, outcome)

    def _steps(self, runner):
        """Returns ``(phase, reason, fields)`` for the build's end, or None
        when the build was ended by someone else (canceled, reaped)."""
        build = self.build
        try:
            runner.log(
                f"Build {build.pk} of {self.repository.full_name}: {build.source_type} "
                f"{build.source_ref} → {', '.join(build.tags)}\n"
                f"Worker: {build.worker}\n"
            )
            username, secret = self._issue_token()
            runner.add_secret(secret)
            self._clone(runner)
            dockerfile, context = self._locate()
            env = self._environment(dockerfile, context)
            self.builder = self._builder(
                runner, username, secret, self._build_args(dockerfile, env)
            )
            self._hook(runner, "post_checkout", dockerfile, env)
            self.build = services.build_phase_set(
                build=build,
                phase=Build.Phase.BUILDING,
                commit_sha=build.commit_sha,
                commit_message=build.commit_message,
            )
            self._hook(runner, "pre_build", dockerfile, env)
            image = f"localhost/hub-build-{build.pk}"
            self.builder.build(context=context, dockerfile=dockerfile, image=image)
            self.build = services.build_phase_set(build=self.build, phase=Build.Phase.PUSHING)
            digest = self._push(runner, image, username)
            self._hook(runner, "post_push", dockerfile, env)
            manifest = Manifest.objects.filter(repository=self.repository, digest=digest).first()
            size = manifest.layers_size if manifest else None
            runner.log(f"\nPushed {', '.join(build.tags)} as {digest}.\n")
            return Build.Phase.SUCCESS, "", {"image_digest": digest, "image_size": size}
        except Stopped as stopped:
            if runner.stop_reason == "timeout":
                minutes = django_settings.HUB_BUILD_TIMEOUT / 60
                reason = (
                    f"The build ran longer than its time limit ({minutes:g} minutes) "
                    "and was stopped."
                )
                return Build.Phase.FAILED, reason, {"failed_step": runner.last_step}
            logger.info("Build %s stopped: %s", build.pk, stopped)
            return None
        except services.BuildGone:
            return None
        except StepFailed as failure:
            return Build.Phase.FAILED, str(failure), {"failed_step": failure.step}
        except Exception as error:
            logger.exception("Build %s broke", build.pk)
            reason = f"Hub could not run this build ({type(error).__name__}: {error})."
            return Build.Phase.FAILED, runner.mask(reason), {"failed_step": runner.last_step}

    def _record(self, runner, outcome):
        if outcome is None:
            runner.flush()
            return
        phase, reason, fields = outcome
        services.build_finish(build=self.build, phase=phase, reason=reason, **fields)

    # The steps.

    def _issue_token(self):
        """A token that can push to this repository only, for as long as the build may run."""
        user = self.settings.created_by
        if user is None and self.repository.namespace.user_id:
            user = self.repository.namespace.user
        if user is None or not user.is_active:
            raise StepFailed(
                "Nobody who can push to this repository configured its builds. An admin "
                "should save the build settings again.",
                step="Authorizing the push",
            )
        lifetime = timedelta(seconds=django_settings.HUB_BUILD_TIMEOUT + 600)
        self.token, secret = account_services.access_token_create(
            user=user,
            name=f"Build {self.build.pk}",
            scope=AccessToken.Scope.WRITE,
            kind=AccessToken.Kind.BUILD,
            repository_name=self.repository.full_name,
            expires_at=timezone.now() + lifetime,
        )
        if not permissions.can(self.token, self.repository, permissions.PUSH):
            raise StepFailed(
                f"{user.get_username()} configured these builds but can no longer push to "
                f"{self.repository.full_name}. An admin should save the build settings again.",
                step="Authorizing the push",
            )
        return user.get_username(), secret

    def _clone(self, runner):
        build = self.build
        url, display_url, git_config, git_env = self._clone_source(runner)
        git = ["git", *git_config, "-c", "advice.detachedHead=false"]
        runner.run([*git, "init", "--quiet", self.checkout], step="Preparing the checkout")
        in_checkout = [*git, "-C", self.checkout]
        ref = ("refs/heads/" if build.source_type == rules.BRANCH else "refs/tags/") + (
            build.source_ref
        )
        fetch = [*in_checkout, "fetch", "--quiet", "--depth", "1", "--no-tags", url]
        sha = build.commit_sha
        fetched = None
        if sha:
            fetched = runner.run(
                [*fetch, sha],
                step=f"Fetching commit {sha[:12]} from {display_url}",
                env=git_env,
                check=False,
            )
        if not sha or fetched.returncode != 0:
            runner.run(
                [*fetch, f"+{ref}:refs/hub/source"],
                step=f"Fetching {build.source_type} {build.source_ref} from {display_url}",
                env=git_env,
            )
            tip = runner.run(
                [*in_checkout, "rev-parse", "refs/hub/source^{commit}"],
                step="Reading the commit",
                quiet=True,
            ).output.strip()
            if sha and tip != sha:
                raise StepFailed(
                    f"The commit {sha[:12]} is not the tip of {build.source_type} "
                    f"{build.source_ref} any more, and the server would not send it by its id.",
                    step="Fetching the commit",
                )
            sha = tip
        runner.run(
            [*in_checkout, "checkout", "--quiet", "--detach", sha],
            step=f"Checking out {sha[:12]}",
        )
        message = runner.run(
            [*in_checkout, "log", "-1", "--format=%B", sha], step="Reading the commit", quiet=True
        ).output.strip()
        # FETCH_HEAD names the URL it came from; it has no business in an image.
        (self.checkout / ".git" / "FETCH_HEAD").unlink(missing_ok=True)
        build.commit_sha = sha
        build.commit_message = message or build.commit_message
        runner.log(f"Commit {sha}: {build.commit_message.splitlines()[0] if message else ''}\n")

    def _clone_source(self, runner):
        """``(url, url to show, git -c options, environment)`` for cloning."""
        settings = self.settings
        git_config = ["-c", "protocol.allow=never", "-c", "protocol.file.allow=never"]
        for scheme in net.GIT_SCHEMES:
            git_config += ["-c", f"protocol.{scheme}.allow=always"]
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ALLOW_PROTOCOL": ":".join(net.GIT_SCHEMES),
            "HOME": str(self.workspace / "home"),
        }
        (self.workspace / "home").mkdir(exist_ok=True)
        if settings.provider == Provider.GIT:
            url = settings.source
            try:
                addresses = net.check_git_url(url)
            except net.UnsafeURL as error:
                raise StepFailed(str(error), step="Checking the git URL") from error
            scheme, host, port = net.split_git_url(url)
            if scheme in ("http", "https"):
                # Connect to the address that was checked, not to a fresh lookup.
                git_config += ["-c", f"http.curloptResolve={host}:{port}:{addresses[0]}"]
            if scheme == "ssh":
                env["GIT_SSH_COMMAND"] = self._ssh_command()
            return url, url, git_config, env
        source = source_for(settings.provider)
        try:
            url = source.clone_url(settings.linked_user, settings.source, authenticated=True)
            display_url = source.clone_url(settings.linked_user, settings.source)
        except Exception as error:
            raise StepFailed(
                f"Hub could not reach the {source.name} account linked to these builds: {error}",
                step="Preparing the clone",
            ) from error
        credentials = urlsplit(url)
        runner.add_secret(credentials.username or "")
        runner.add_secret(credentials.password or "")
        return url, display_url, git_config, env

    def _ssh_command(self):
        key = self.workspace / "deploy_key"
        key.write_text(self.settings.deploy_key_private)
        key.chmod(0o600)
        known_hosts = self.workspace / "known_hosts"
        return (
            f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
            f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known_hosts}"
        )

    def _locate(self):
        """The Dockerfile and the build context, both inside the checkout."""
        context = inside_checkout(self.checkout, self.build.context, "build context")
        dockerfile = inside_checkout(self.checkout, self.build.dockerfile, "Dockerfile location")
        if not context.is_dir():
            raise StepFailed(
                f"The build context {self.build.context!r} is not a directory in the repository.",
                step="Finding the Dockerfile",
            )
        if not dockerfile.is_file():
            raise StepFailed(
                f"There is no Dockerfile at {self.build.dockerfile!r} in the repository.",
                step="Finding the Dockerfile",
            )
        return dockerfile, context

    def _environment(self, dockerfile, context):
        """Docker Hub's variables for hooks and builds, and the build's variables."""
        public_host = urlsplit(django_settings.HUB_URL).netloc
        docker_repo = f"{public_host}/{self.repository.full_name}"
        tag = self.build.tags[0] if self.build.tags else "latest"
        hub = {
            "SOURCE_BRANCH": self.build.source_ref,
            "SOURCE_COMMIT": self.build.commit_sha,
            "COMMIT_MSG": self.build.commit_message,
            "DOCKER_REPO": docker_repo,
            "DOCKERFILE_PATH": os.path.relpath(dockerfile, context),
            "DOCKER_TAG": tag,
            "IMAGE_NAME": f"{docker_repo}:{tag}",
        }
        return {**hub, **self.variables}

    def _build_args(self, dockerfile, env):
        """The build's variables, and those of Docker Hub's the Dockerfile
        declares with ARG (passing undeclared ones only draws a warning)."""
        declared = set(ARG_RE.findall(dockerfile.read_text(errors="replace")))
        hub = {name: value for name, value in env.items() if name not in self.variables}
        return {
            **{name: value for name, value in hub.items() if name in declared},
            **self.variables,
        }

    def _builder(self, runner, username, secret, env):
        registry, insecure = BuildEnvironment.registry_address(django_settings.HUB_REGISTRY_URL)
        cache_dir = None
        if self.build.cache:
            cache_dir = Path(django_settings.HUB_BUILD_DIR) / "cache" / str(self.repository.pk)
            cache_dir.mkdir(parents=True, exist_ok=True)
        environment = BuildEnvironment(
            workspace=self.workspace,
            registry=registry,
            insecure=insecure,
            username=username,
            token=secret,
            network=django_settings.HUB_BUILD_NETWORK,
            cache_dir=cache_dir,
            build_args=env,
        )
        return builder_for(django_settings.HUB_BUILDER)(environment, runner.run)

    def _push(self, runner, image, username):
        tags = self.build.tags
        registry = self.builder.env.registry
        digest = self.builder.push(
            image=image, destination=f"{registry}/{self.repository.full_name}:{tags[0]}"
        )
        if len(tags) > 1:
            # The other tags point at the same manifest, all at once. A tag
            # the registry refuses to move fails the build, as a refused
            # push of the first tag does (with the registry's DENIED message).
            try:
                repository_services.manifest_tag(
                    repository=self.repository,
                    digest=digest,
                    tags=tags[1:],
                    pusher=self.token.user,
                )
            except repository_services.TagImmutable as refused:
                raise StepFailed(
                    f"Tagging {', '.join(tags[1:])} failed: denied: {refused}",
                    step="Tagging the image",
                ) from None
            runner.log(f"Tagged {', '.join(tags[1:])} as well.\n")
        return digest

    def _hook(self, runner, name, dockerfile, env):
        hook = dockerfile.parent / "hooks" / name
        if not hook.is_file():
            return
        hook = inside_checkout(self.checkout, os.path.relpath(hook, self.checkout), "build hook")
        root = self.checkout.resolve()
        workdir = os.path.relpath(dockerfile.parent, root)
        self.builder.run_hook(
            hook=str(hook.relative_to(root)),
            checkout=root,
            workdir="" if workdir == "." else workdir,
            env=env,
        )

    def _clean_up(self):
        if self.builder is not None:
            try:
                self.builder.cleanup()
            except Exception:
                logger.exception("Cleaning up after build %s failed", self.build.pk)
        if self.token is not None:
            account_services.access_token_revoke(token=self.token)
        shutil.rmtree(self.workspace, ignore_errors=True)


def inside_checkout(checkout, relative, what):
    """``relative`` under ``checkout`` with symlinks resolved; refuse a path
    that leaves the checkout (``..``, absolute links)."""
    root = Path(checkout).resolve()
    cleaned = (relative or "").strip().lstrip("/") or "."
    path = (root / cleaned).resolve()
    if path != root and root not in path.parents:
        raise StepFailed(
            f"The {what} {relative!r} points outside the repository.", step="Finding the Dockerfile"
        )
    return path
