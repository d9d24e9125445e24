"""The container's health check (the Dockerfile's HEALTHCHECK): exit 0 when
this container's Hub can serve, 1 when it cannot.

A container that runs the web server (the roles `all` and `web`) is healthy
when GET /-/ready answers 200 on its own address: the web server runs and
the database, cache, storage and broker answer it. The roles without a web
server (worker, builds, beat) are healthy while they run: Docker runs this
check only then. Plain Python, not Django: it runs every 30 seconds."""

import os
import ssl
import sys
import urllib.error
import urllib.request

WEB_ROLES = {"all", "web"}


def role():
    """The role the container was started with: the last argument of
    process 1 (tini -- entrypoint ROLE), `all` when none was given."""
    try:
        with open("/proc/1/cmdline", "rb") as cmdline:
            argv = cmdline.read().decode().split("\0")[:-1]
    except OSError:
        return "all"
    return argv[-1] if argv and not argv[-1].startswith("/") else "all"


def ready_url():
    host, _, port = os.environ.get("HUB_ADDR", "127.0.0.1:8000").rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1" if host != "[::]" else "[::1]"
    scheme = "https" if os.environ.get("HUB_TLS_CERT") else "http"
    return f"{scheme}://{host}:{port}/-/ready"


def main():
    if role() not in WEB_ROLES:
        return 0
    # The certificate names the public host, not 127.0.0.1; what is checked
    # here is this container's own server.
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(ready_url(), timeout=4, context=context) as response:
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as error:
        print(error.read().decode(errors="replace"), file=sys.stderr)
        return 1
    except OSError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
