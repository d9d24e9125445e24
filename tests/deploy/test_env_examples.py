"""The env files an operator copies: the commands they give for making keys
make keys Hub loads, and the secrets are placeholders nobody could mistake
for real ones."""

import re
import shutil
import subprocess
from pathlib import Path

import environ
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXAMPLES = [DEPLOY / "hub.env.example", DEPLOY / "kubernetes" / "secret.env.example"]
SECRETS = (
    "HUB_SECRET_KEY",
    "HUB_TOKEN_KEY",
    "HUB_ADMIN_PASSWORD",
    "HUB_S3_SECRET_ACCESS_KEY",
    "HUB_DATABASE_URL",
)


def settings_in(path):
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, separator, value = line.partition("=")
            assert separator and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), line
            assert not value.startswith(("'", '"')), line
            values[key] = value
    return values


def command_after(path, setting, program):
    """The command that the comment above `setting` gives for making it."""
    lines = path.read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith(f"{setting}="))
    start = max(i for i, line in enumerate(lines[:end]) if not line.startswith("#"))
    (command,) = [
        line.removeprefix("#").strip()
        for line in lines[start:end]
        if line.removeprefix("#").strip().startswith(program)
    ]
    return command


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_secrets_are_obvious_placeholders(example):
    values = settings_in(example)
    for name in SECRETS:
        assert "CHANGE-ME" in values[name], name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_the_token_key_command_makes_a_key_hub_loads(example, monkeypatch):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    command = command_after(example, "HUB_TOKEN_KEY", "openssl")
    line = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert "\n" not in line.strip(), "the key must fit on one line of the env file"
    # As hub/settings/base.py reads it.
    monkeypatch.setenv("HUB_TOKEN_KEY", line.strip())
    pem = environ.Env().str("HUB_TOKEN_KEY", multiline=True)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key.curve, ec.SECP256R1)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_the_encryption_key_command_makes_a_fernet_key(example):
    command = command_after(example, "HUB_ENCRYPTION_KEY", "python3")
    key = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    Fernet(key)
