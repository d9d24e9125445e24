"""Starting Hub's processes for the tests of tests/hub, and finding them
again through /proc."""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.e2e.helpers import create_database, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class Hub:
    """A Hub process (``manage.py serve``, or gunicorn with Hub's
    configuration) with a data directory, an address and a log of its own."""

    def __init__(self, tmp_path, **env):
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        self.log_path = tmp_path / "hub.log"
        self.addr = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.addr}"
        self.admin_password = secrets.token_urlsafe(12)
        # As a user starts it: no test settings, no HUB_* of the machine's.
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("HUB_")
            and name not in ("DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST", "GUNICORN_CMD_ARGS")
        }
        self.env.update(
            {
                "HUB_ADDR": self.addr,
                "HUB_DATA_DIR": str(self.data_dir),
                "HUB_DEMO": "0",
                "HUB_ADMIN_PASSWORD": self.admin_password,
                "HUB_WEB_WORKERS": "2",
                "HUB_WEB_GRACEFUL_TIMEOUT": "5",
                "PYTHONUNBUFFERED": "1",
                **env,
            }
        )
        self.drop_database = None
        self.process = None

    def use_test_database_server(self):
        """A database of its own on HUB_TEST_DATABASE_URL's server, if set."""
        server = os.environ.get("HUB_TEST_DATABASE_URL")
        if server:
            self.env["HUB_DATABASE_URL"], self.drop_database = create_database(
                server, prefix="hub_serve"
            )

    def manage(self, *args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self, *argv):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *argv],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def start_serve(self, *args):
        return self.start("manage.py", "serve", *args)

    def start_gunicorn(self):
        return self.start("-m", "gunicorn", "--config", str(REPO_ROOT / "hub" / "gunicorn.conf.py"))

    def log(self):
        return self.log_path.read_text(errors="replace")

    @contextlib.contextmanager
    def gunicorn_serving(self, users, password):
        """Migrate, create ``users`` (each with ``password``), start gunicorn
        as an operator would, and yield once it answers; stop it after."""
        try:
            self.manage("migrate", "--verbosity", "0")
            for user in users:
                self.manage(
                    "create_user", user, f"--password={password}", f"--email={user}@example.com"
                )
            self.start_gunicorn()
            self.wait_until_serving(auth=(users[0], password))
            yield self
        finally:
            self.stop()

    def get(self, path, auth=None, timeout=30, **kwargs):
        return requests.get(f"{self.url}{path}", auth=auth, timeout=timeout, **kwargs)

    def wait_until_serving(self, timeout=180, auth=None):
        auth = auth or ("admin", self.admin_password)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode}:\n{self.log()}")
            try:
                answer = self.get("/v2/", auth=auth, timeout=5)
                if answer.status_code == 200:
                    return
                last = answer.status_code
            except requests.RequestException as error:
                last = error
            time.sleep(0.25)
        raise AssertionError(f"/v2/ did not answer 200 within {timeout}s ({last}):\n{self.log()}")

    def stop(self):
        """Everything this Hub started goes, however the test ended."""
        if self.process is not None:
            tree = [self.process.pid, *descendants(self.process.pid)]
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            for pid in tree:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.drop_database is not None:
            self.drop_database()


def with_timeout(predicate, timeout, interval=0.05):
    """Poll ``predicate`` until it is true; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def _stat(pid):
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rindex(b")") + 2 :].split()


def alive(pid):
    """Whether ``pid`` runs (a zombie has died, it is only not reaped yet)."""
    try:
        return _stat(pid)[0] != b"Z"
    except FileNotFoundError:
        return False


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(entry.name)[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def descendants(pid):
    found, parents = [], [pid]
    while parents:
        below = children(parents.pop())
        found.extend(below)
        parents.extend(below)
    return found


def child_running(parent, marker):
    """The pid of ``parent``'s live child whose command line has ``marker``, or None."""
    for pid in children(parent):
        if marker in cmdline(pid) and alive(pid):
            return pid
    return None
