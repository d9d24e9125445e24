"""A stand-in for github.com on 127.0.0.1: the fake GitHub API of the
linked-account tests, plus real git repositories served over smart HTTP by
`git http-backend` at /<owner>/<name>.git, as GitHub serves them.

Private repositories ask for HTTP Basic credentials and accept an access
token the fake issued, as the user name or the password (GitHub takes
``<token>:x-oauth-basic`` and ``x-access-token:<token>`` alike). Public ones
are open to anyone. Every git request is recorded with the user it
authenticated as, so a test can tell how a clone reached the server.

Commits are made in a working copy beside each bare repository and pushed to
it through the file system; the server only ever serves reads."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.accounts_social.fake_providers import FakeGitHub, Response

GIT_PATH = re.compile(r"/(?P<owner>[^/]+)/(?P<name>[^/]+)\.git(?P<rest>/.*)?")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def git(*args, cwd=None, env=None) -> str:
    """Run git (never with the user's or the system's configuration); return stdout."""
    full_env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        **GIT_IDENTITY,
        **(env or {}),
    }
    proc = subprocess.run(
        ["git", *map(str, args)], cwd=cwd, env=full_env, capture_output=True, timeout=60
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(map(str, args))} failed ({proc.returncode}):\n"
            f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout.decode().strip()


@dataclass
class GitRequest:
    method: str
    path: str
    query: str
    user: str | None  # the fake's login the credentials belong to, or None


@dataclass
class GitRepository:
    """A bare repository the server serves, and a working copy to commit in."""

    full_name: str
    bare: Path
    work: Path
    default_branch: str

    def commit(self, files: dict[str, str], message: str, *, branch: str | None = None) -> str:
        """Write files (path -> text; None deletes), commit them on branch
        (default: the default branch), push, and return the commit's SHA."""
        branch = branch or self.default_branch
        if git("symbolic-ref", "--short", "HEAD", cwd=self.work) != branch:
            git("checkout", "-B", branch, cwd=self.work)
        for path, text in files.items():
            target = self.work / path
            if text is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str, *, ref: str = "HEAD") -> str:
        """A lightweight tag on ref, pushed; returns the commit's SHA."""
        git("tag", name, ref, cwd=self.work)
        git("push", "--quiet", "origin", f"refs/tags/{name}", cwd=self.work)
        return git("rev-parse", f"{name}^{{commit}}", cwd=self.work)


class GitHubWithRepositories(FakeGitHub):
    """The fake GitHub, serving git repositories from root too."""

    def __init__(self, root: Path, *, client_id="hub-e2e", client_secret="hub-e2e-secret"):
        super().__init__(client_id=client_id, client_secret=client_secret)
        self.root = root
        self.git_requests: list[GitRequest] = []
        (root / "bare").mkdir(parents=True, exist_ok=True)
        (root / "work").mkdir(parents=True, exist_ok=True)

    # Accounts and repositories

    def link_user(self, login: str) -> str:
        """A GitHub user and an access token for it, as the OAuth dance leaves them."""
        if login not in self.users:
            self.add_user(login, email=f"{login}@example.com")
        access_token, _refresh = self.issue_tokens(login)
        return access_token

    def create_repository(
        self, full_name: str, *, private: bool = False, default_branch: str = "main"
    ) -> GitRepository:
        self.add_repository(full_name, private=private, default_branch=default_branch)
        bare = self.root / "bare" / f"{full_name}.git"
        work = self.root / "work" / full_name
        bare.parent.mkdir(parents=True, exist_ok=True)
        work.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", "--initial-branch", default_branch, bare)
        # As GitHub does: any commit reachable from a branch or tag may be
        # fetched by its SHA (a shallow clone at the exact commit needs it).
        git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=bare)
        git("config", "uploadpack.allowFilter", "true", cwd=bare)
        git("init", "--quiet", "--initial-branch", default_branch, work)
        git("remote", "add", "origin", bare, cwd=work)
        return GitRepository(full_name, bare, work, default_branch)

    def remove(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # HTTP

    def __call__(self, environ, start_response):
        match = GIT_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or match["rest"] is None:
            return super().__call__(environ, start_response)
        return self.serve_git(environ, start_response, match)

    def serve_git(self, environ, start_response, match):
        full_name = f"{match['owner']}/{match['name']}"
        repository = self.repositories.get(full_name)
        user = self.git_user(environ.get("HTTP_AUTHORIZATION", ""))
        self.git_requests.append(
            GitRequest(
                environ["REQUEST_METHOD"],
                environ.get("PATH_INFO", ""),
                environ.get("QUERY_STRING", ""),
                user,
            )
        )
        if repository is None:
            return self.respond(start_response, Response(404, b"Repository not found.\n"))
        if repository["private"] and user is None:
            # What github.com answers a git client without (valid) credentials.
            challenge = [("WWW-Authenticate", 'Basic realm="GitHub"')]
            return self.respond(start_response, Response(401, b"", challenge))
        if environ["REQUEST_METHOD"] == "POST" and match["rest"] == "/git-receive-pack":
            return self.respond(
                start_response, Response(403, b"Pushes go through the file system.\n")
            )
        return self.http_backend(environ, start_response)

    def git_user(self, authorization: str) -> str | None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(credentials).decode().partition(":")
        except ValueError:
            return None
        for candidate in (username, password):
            if candidate in self.access_tokens and candidate not in self.expired_tokens:
                return self.access_tokens[candidate]
        return None

    def http_backend(self, environ, start_response):
        """Run `git http-backend` as a CGI program for this request."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_PROJECT_ROOT": str(self.root / "bare"),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": environ.get("SERVER_PROTOCOL", "HTTP/1.0"),
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ["PATH_INFO"],
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
        }
        # Protocol v2 and compressed request bodies are announced in headers.
        for header in ("HTTP_GIT_PROTOCOL", "HTTP_CONTENT_ENCODING"):
            if header in environ:
                cgi_env[header] = environ[header]
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=cgi_env, capture_output=True, timeout=120
        )
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status = "200 OK"
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name.strip(), value.strip()))
        if proc.returncode != 0 and not head:
            status, headers = "500 Internal Server Error", [("Content-Type", "text/plain")]
            payload = proc.stderr
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def respond(self, start_response, response: Response):
        start_response(
            f"{response.status} {self.reasons.get(response.status, '')}",
            [("Content-Length", str(len(response.body))), *response.headers],
        )
        return [response.body]


__all__ = ["GitHubWithRepositories", "GitRepository", "GitRequest", "git"]
