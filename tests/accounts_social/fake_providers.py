"""Fake GitHub and Bitbucket servers on 127.0.0.1, speaking the parts of the
real wire formats Hub uses: the OAuth 2 authorize redirect and token
endpoint, the signed-in user and their email addresses, repositories, and
repository webhooks. Each records the requests it received."""

import base64
import itertools
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, unquote, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    @property
    def form(self):
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}

    @property
    def json(self):
        return json.loads(self.body)

    def param(self, name, default=None):
        return self.query.get(name, [default])[0]


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list = field(default_factory=list)


def json_response(status, data, headers=()):
    return Response(
        status, json.dumps(data).encode(), [("Content-Type", "application/json"), *headers]
    )


def redirect(location):
    return Response(302, b"", [("Location", location)])


class FakeProvider:
    """A threaded HTTP server whose subclasses route requests with
    ``routes``: (method, path regex, handler name)."""

    routes: list = []
    reasons = {200: "OK", 201: "Created", 204: "No Content", 302: "Found", 400: "Bad Request"}
    reasons |= {401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Entity"}

    def __init__(self, *, client_id, client_secret, page_size=100):
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.requests = []
        self.codes = {}  # code -> (user login, redirect_uri)
        self.access_tokens = {}  # token -> user login
        self.refresh_tokens = {}  # token -> user login
        self.expired_tokens = set()
        self.users = {}  # login -> profile
        self.emails = {}  # login -> addresses
        self.repositories = {}  # full name -> repository
        self.hooks = {}  # full name -> {hook id: hook}
        self.signed_in = None  # the login of whoever approves at the authorize page
        self._ids = itertools.count(1000)
        self.server = make_server(
            "127.0.0.1",
            0,
            self,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def received(self, method, path):
        return [r for r in self.requests if r.method == method and r.path == path]

    def expire_access_tokens(self):
        self.expired_tokens.update(self.access_tokens)

    # WSGI

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        request = Request(
            method=environ["REQUEST_METHOD"],
            path=unquote(environ.get("PATH_INFO", "")),
            query=parse_qs(environ.get("QUERY_STRING", "")),
            headers=headers,
            body=environ["wsgi.input"].read(length) if length else b"",
        )
        self.requests.append(request)
        response = self.route(request)
        start_response(
            f"{response.status} {self.reasons.get(response.status, '')}",
            [("Content-Length", str(len(response.body))), *response.headers],
        )
        return [response.body]

    def route(self, request):
        for method, pattern, handler in self.routes:
            match = re.fullmatch(pattern, request.path)
            if match and method == request.method:
                return getattr(self, handler)(request, *match.groups())
        return self.not_found()

    # Shared OAuth 2 pieces

    def authorize(self, request):
        if request.param("client_id") != self.client_id or request.param("response_type") != "code":
            return Response(400, b"bad client_id or response_type")
        code = secrets.token_hex(10)
        redirect_uri = request.param("redirect_uri")
        self.codes[code] = (self.signed_in, redirect_uri)
        query = {"code": code}
        if request.param("state"):
            query["state"] = request.param("state")
        return redirect(f"{redirect_uri}?{urlencode(query)}")

    def client_credentials(self, request):
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            return client_id, secret
        return request.form.get("client_id"), request.form.get("client_secret")

    def issue_tokens(self, login):
        access_token = self.token_prefix + secrets.token_hex(16)
        self.access_tokens[access_token] = login
        refresh_token = "rt_" + secrets.token_hex(16)
        self.refresh_tokens[refresh_token] = login
        return access_token, refresh_token

    def user_of(self, request):
        authorization = request.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in self.auth_schemes or token in self.expired_tokens:
            return None
        return self.access_tokens.get(token)


class FakeGitHub(FakeProvider):
    """github.com and api.github.com on one server: the API under /api/v3,
    as on GitHub Enterprise."""

    api = "/api/v3"
    token_prefix = "gho_"
    auth_schemes = ("token", "bearer")
    routes = [
        ("GET", r"/login/oauth/authorize", "authorize"),
        ("POST", r"/login/oauth/access_token", "access_token"),
        ("GET", rf"{api}/user", "user"),
        ("GET", rf"{api}/user/emails", "user_emails"),
        ("GET", rf"{api}/user/repos", "user_repos"),
        ("GET", rf"{api}/repos/([^/]+)/([^/]+)", "repo"),
        ("POST", rf"{api}/repos/([^/]+)/([^/]+)/hooks", "create_hook"),
        ("DELETE", rf"{api}/repos/([^/]+)/([^/]+)/hooks/(\d+)", "delete_hook"),
    ]

    @property
    def api_url(self):
        return self.url + self.api

    def add_user(self, login, *, email, name=""):
        user_id = next(self._ids)
        self.users[login] = {
            "login": login,
            "id": user_id,
            "node_id": f"MDQ6VXNlcj{user_id}",
            "avatar_url": f"{self.url}/avatars/{login}",
            "html_url": f"{self.url}/{login}",
            "type": "User",
            "site_admin": False,
            "name": name or login,
            "email": email,
        }
        self.emails[login] = [
            {"email": email, "primary": True, "verified": True, "visibility": "public"}
        ]
        self.signed_in = login
        return self.users[login]

    def add_repository(self, full_name, *, private=False, default_branch="main"):
        owner, name = full_name.split("/")
        self.repositories[full_name] = {
            "id": next(self._ids),
            "name": name,
            "full_name": full_name,
            "owner": {"login": owner, "type": "User"},
            "private": private,
            "html_url": f"{self.url}/{full_name}",
            "description": f"The {name} repository",
            "fork": False,
            "url": f"{self.api_url}/repos/{full_name}",
            "clone_url": f"{self.url}/{full_name}.git",
            "ssh_url": f"git@127.0.0.1:{full_name}.git",
            "default_branch": default_branch,
            "visibility": "private" if private else "public",
        }

    def not_found(self):
        return json_response(
            404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        )

    def unauthorized(self):
        return json_response(
            401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        )

    def access_token(self, request):
        # GitHub answers errors with 200 and an "error" field.
        client_id, client_secret = self.client_credentials(request)
        code = request.form.get("code")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            data = {"error": "incorrect_client_credentials"}
        elif code not in self.codes:
            data = {"error": "bad_verification_code"}
        else:
            login, redirect_uri = self.codes.pop(code)
            if request.form.get("redirect_uri") != redirect_uri:
                data = {"error": "redirect_uri_mismatch"}
            else:
                access_token, _ = self.issue_tokens(login)
                data = {"access_token": access_token, "token_type": "bearer", "scope": "repo"}
        if "application/json" in request.headers.get("Accept", ""):
            return json_response(200, data)
        return Response(
            200, urlencode(data).encode(), [("Content-Type", "application/x-www-form-urlencoded")]
        )

    def user(self, request):
        login = self.user_of(request)
        return json_response(200, self.users[login]) if login else self.unauthorized()

    def user_emails(self, request):
        login = self.user_of(request)
        return json_response(200, self.emails[login]) if login else self.unauthorized()

    def user_repos(self, request):
        if not self.user_of(request):
            return self.unauthorized()
        per_page = min(int(request.param("per_page", 30)), self.page_size)
        page = int(request.param("page", 1))
        items = sorted(self.repositories.values(), key=lambda r: r["full_name"])
        start = (page - 1) * per_page
        headers = []
        if start + per_page < len(items):
            next_url = (
                f"{self.api_url}/user/repos?{urlencode({'per_page': per_page, 'page': page + 1})}"
            )
            headers.append(("Link", f'<{next_url}>; rel="next"'))
        return json_response(200, items[start : start + per_page], headers)

    def repo(self, request, owner, name):
        if not self.user_of(request):
            return self.unauthorized()
        repository = self.repositories.get(f"{owner}/{name}")
        return json_response(200, repository) if repository else self.not_found()

    def create_hook(self, request, owner, name):
        if not self.user_of(request):
            return self.unauthorized()
        full_name = f"{owner}/{name}"
        if full_name not in self.repositories:
            return self.not_found()
        body = request.json
        config = body.get("config") or {}
        if not config.get("url"):
            return json_response(422, {"message": "Validation Failed"})
        hook_id = next(self._ids)
        hook = {
            "type": "Repository",
            "id": hook_id,
            "name": body.get("name", "web"),
            "active": body.get("active", True),
            "events": body.get("events", ["push"]),
            "config": {
                "content_type": config.get("content_type", "form"),
                "insecure_ssl": config.get("insecure_ssl", "0"),
                "url": config["url"],
                **({"secret": "********"} if config.get("secret") else {}),
            },
            "updated_at": "2024-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z",
            "url": f"{self.api_url}/repos/{full_name}/hooks/{hook_id}",
            "test_url": f"{self.api_url}/repos/{full_name}/hooks/{hook_id}/test",
            "ping_url": f"{self.api_url}/repos/{full_name}/hooks/{hook_id}/pings",
            "deliveries_url": f"{self.api_url}/repos/{full_name}/hooks/{hook_id}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }
        self.hooks.setdefault(full_name, {})[str(hook_id)] = hook
        return json_response(201, hook)

    def delete_hook(self, request, owner, name, hook_id):
        if not self.user_of(request):
            return self.unauthorized()
        if self.hooks.get(f"{owner}/{name}", {}).pop(hook_id, None) is None:
            return self.not_found()
        return Response(204)


class FakeBitbucket(FakeProvider):
    """bitbucket.org and api.bitbucket.org on one server: the API under /2.0."""

    api = "/2.0"
    token_prefix = "bb_"
    auth_schemes = ("bearer",)
    routes = [
        ("GET", r"/site/oauth2/authorize", "authorize"),
        ("POST", r"/site/oauth2/access_token", "access_token"),
        ("GET", rf"{api}/user", "user"),
        ("GET", rf"{api}/user/emails", "user_emails"),
        ("GET", rf"{api}/repositories", "repositories_list"),
        ("GET", rf"{api}/repositories/([^/]+)/([^/]+)", "repository"),
        ("POST", rf"{api}/repositories/([^/]+)/([^/]+)/hooks", "create_hook"),
        ("DELETE", rf"{api}/repositories/([^/]+)/([^/]+)/hooks/([^/]+)", "delete_hook"),
    ]

    @property
    def api_url(self):
        return self.url + self.api

    def add_user(self, username, *, email, name=""):
        account_uuid = "{" + str(uuid.uuid4()) + "}"
        self.users[username] = {
            "type": "user",
            "account_id": f"557058:{uuid.uuid4()}",
            "uuid": account_uuid,
            "username": username,
            "nickname": username,
            "display_name": name or username,
            "account_status": "active",
            "links": {
                "self": {"href": f"{self.api_url}/users/{account_uuid}"},
                "html": {"href": f"{self.url}/{account_uuid}/"},
                "avatar": {"href": f"{self.url}/avatars/{username}"},
            },
        }
        self.emails[username] = [
            {
                "type": "email",
                "email": email,
                "is_primary": True,
                "is_confirmed": True,
                "links": {"self": {"href": f"{self.api_url}/user/emails/{email}"}},
            }
        ]
        self.signed_in = username
        return self.users[username]

    def add_repository(self, full_name, *, private=True, main_branch="main"):
        workspace, slug = full_name.split("/")
        self.repositories[full_name] = {
            "type": "repository",
            "uuid": "{" + str(uuid.uuid4()) + "}",
            "full_name": full_name,
            "name": slug.replace("-", " ").title(),
            "slug": slug,
            "is_private": private,
            "scm": "git",
            "description": f"The {slug} repository",
            "mainbranch": {"type": "branch", "name": main_branch},
            "workspace": {"type": "workspace", "slug": workspace},
            "links": {
                "self": {"href": f"{self.api_url}/repositories/{full_name}"},
                "html": {"href": f"{self.url}/{full_name}"},
                "clone": [
                    {"name": "https", "href": f"http://{workspace}@127.0.0.1/{full_name}.git"},
                    {"name": "ssh", "href": f"git@127.0.0.1:{full_name}.git"},
                ],
            },
        }

    def error(self, status, message):
        return json_response(status, {"type": "error", "error": {"message": message}})

    def not_found(self):
        return self.error(404, "Resource not found")

    def unauthorized(self):
        return self.error(401, "Access token expired. Use your refresh token to obtain a new one.")

    def access_token(self, request):
        if self.client_credentials(request) != (self.client_id, self.client_secret):
            return json_response(
                400, {"error": "invalid_client", "error_description": "Invalid OAuth client"}
            )
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code" and request.form.get("code") in self.codes:
            login, _ = self.codes.pop(request.form["code"])
        elif grant_type == "refresh_token" and request.form.get("refresh_token") in (
            self.refresh_tokens
        ):
            login = self.refresh_tokens[request.form["refresh_token"]]
        else:
            return json_response(
                400, {"error": "invalid_grant", "error_description": "Invalid grant"}
            )
        access_token, refresh_token = self.issue_tokens(login)
        if grant_type == "refresh_token":
            # Bitbucket keeps the refresh token.
            del self.refresh_tokens[refresh_token]
            refresh_token = request.form["refresh_token"]
        return json_response(
            200,
            {
                "access_token": access_token,
                "scopes": "account email repository webhook",
                "expires_in": 7200,
                "refresh_token": refresh_token,
                "token_type": "bearer",
                "state": grant_type,
            },
        )

    def user(self, request):
        login = self.user_of(request)
        return json_response(200, self.users[login]) if login else self.unauthorized()

    def user_emails(self, request):
        login = self.user_of(request)
        if not login:
            return self.unauthorized()
        values = self.emails[login]
        return json_response(200, {"pagelen": 10, "values": values, "page": 1, "size": len(values)})

    def repositories_list(self, request):
        if not self.user_of(request):
            return self.unauthorized()
        if request.param("role") not in ("member", "contributor", "admin", "owner"):
            return self.error(400, "role is required")
        pagelen = min(int(request.param("pagelen", 10)), self.page_size)
        page = int(request.param("page", 1))
        items = sorted(self.repositories.values(), key=lambda r: r["full_name"])
        start = (page - 1) * pagelen
        data = {
            "pagelen": pagelen,
            "size": len(items),
            "page": page,
            "values": items[start : start + pagelen],
        }
        if start + pagelen < len(items):
            query = urlencode({"role": request.param("role"), "pagelen": pagelen, "page": page + 1})
            data["next"] = f"{self.api_url}/repositories?{query}"
        return json_response(200, data)

    def repository(self, request, workspace, slug):
        if not self.user_of(request):
            return self.unauthorized()
        repository = self.repositories.get(f"{workspace}/{slug}")
        return json_response(200, repository) if repository else self.not_found()

    def create_hook(self, request, workspace, slug):
        if not self.user_of(request):
            return self.unauthorized()
        full_name = f"{workspace}/{slug}"
        if full_name not in self.repositories:
            return self.not_found()
        body = request.json
        if not body.get("url") or not body.get("events"):
            return self.error(400, "url and events are required")
        hook_uuid = "{" + str(uuid.uuid4()) + "}"
        hook = {
            "type": "webhook_subscription",
            "uuid": hook_uuid,
            "url": body["url"],
            "description": body.get("description", ""),
            "subject_type": "repository",
            "subject": {"type": "repository", "full_name": full_name},
            "active": body.get("active", True),
            "created_at": "2024-01-01T00:00:00.000000+00:00",
            "events": body["events"],
            "secret_set": bool(body.get("secret")),
        }
        self.hooks.setdefault(full_name, {})[hook_uuid] = hook
        return json_response(201, hook)

    def delete_hook(self, request, workspace, slug, hook_uuid):
        if not self.user_of(request):
            return self.unauthorized()
        if self.hooks.get(f"{workspace}/{slug}", {}).pop(hook_uuid, None) is None:
            return self.not_found()
        return Response(204)
