"""HUB_TRUST_PROXY_HEADERS, which the files in deploy/ turn on: behind nginx or
an ingress, Hub takes the scheme and the client's address from the proxy's
headers, and otherwise ignores them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Run in a process of its own: settings are read once per process.
PROBE = """
import json
import django
django.setup()
from axes.helpers import get_client_ip_address
from django.test import RequestFactory
request = RequestFactory().get(
    "/v2/",
    HTTP_HOST="hub.example.com",
    HTTP_X_FORWARDED_PROTO="https",
    HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9",
    REMOTE_ADDR="10.0.0.2",
)
print(json.dumps({
    "secure": request.is_secure(),
    "realm": request.build_absolute_uri("/token"),
    "client": get_client_ip_address(request),
}))
"""


def probe(tmp_path, **environment):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HUB_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(DJANGO_SETTINGS_MODULE="hub.settings.base", HUB_DATA_DIR=str(tmp_path))
    env.update(environment)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("value", ["", "false"])
def test_forwarded_headers_are_ignored_by_default(tmp_path, value):
    environment = {"HUB_TRUST_PROXY_HEADERS": value} if value else {}
    answer = probe(tmp_path, **environment)
    assert answer == {
        "secure": False,
        "realm": "http://hub.example.com/token",
        "client": "10.0.0.2",
    }


def test_behind_a_trusted_proxy_the_scheme_and_client_are_the_proxys_word(tmp_path):
    answer = probe(tmp_path, HUB_TRUST_PROXY_HEADERS="true")
    # The registry's challenge then sends clients to the token endpoint over HTTPS,
    # and log-in lockouts count the address the proxy saw, not one the client wrote.
    assert answer == {
        "secure": True,
        "realm": "https://hub.example.com/token",
        "client": "203.0.113.9",
    }
