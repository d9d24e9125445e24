"""The OAuth dance, driven the way a browser would: Hub's login URL, the
provider's authorize page (fetched for real), then Hub's callback."""

import json
from urllib.parse import parse_qs, urlsplit

import requests
from django.contrib.sessions.models import Session
from django.db import connection


def start_login(client, provider_id, *, process="login"):
    """POST Hub's login URL (a GET only shows a confirmation page); the
    response redirects to the provider, or refuses."""
    return client.post(f"/accounts/{provider_id}/login/?process={process}")


def approve_at_provider(authorize_url):
    """What the provider's authorize page does once the user approves: the
    callback URL (path and query) it redirects the browser to."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    callback = urlsplit(response.headers["Location"])
    assert callback.netloc == "testserver"
    return f"{callback.path}?{callback.query}"


def oauth_dance(client, provider_id, *, process="login"):
    response = start_login(client, provider_id, process=process)
    assert response.status_code == 302
    return client.get(approve_at_provider(response["Location"]))


def authorize_params(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def assert_not_stored(secret):
    """The secret is in no column of any table, nor in any session (whose
    column holds signed, possibly compressed data)."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        assert secret.encode() not in bytes(value), table
                    else:
                        assert secret not in str(value), table
    for session in Session.objects.all():
        assert secret not in json.dumps(session.get_decoded())
