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
