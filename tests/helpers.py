"""Small helpers the test packages share."""

import base64

from django.test import Client

PASSWORD = "correct horse battery staple"


def basic_auth(username, password):
    """The Authorization header a registry client sends with Basic credentials."""
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {encoded}"


def client_as(username, password):
    """A test client that sends these Basic credentials with every request."""
    return Client(HTTP_AUTHORIZATION=basic_auth(username, password))


class CommittingClient:
    """A Django test client spoken to as a registry client speaks. Outside a
    test every request commits; what waits for the commit (cache
    invalidation, deleting upload parts) runs here as it would then."""

    def __init__(self, client, capture_on_commit):
        self.client = client
        self._capture_on_commit = capture_on_commit

    def request(self, method, path, data=b"", *, content_type="application/octet-stream", **kw):
        with self._capture_on_commit(execute=True):
            return self.client.generic(method, path, data, content_type=content_type, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def post(self, path, data=b"", **kw):
        return self.request("POST", path, data, **kw)

    def put(self, path, data=b"", **kw):
        return self.request("PUT", path, data, **kw)

    def patch(self, path, data=b"", **kw):
        return self.request("PATCH", path, data, **kw)
