import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from accounts import crypto


def test_round_trip_with_the_key_derived_from_the_secret_key(settings):
    settings.HUB_ENCRYPTION_KEY = ""

    ciphertext = crypto.encrypt("gho_secret")

    assert "gho_secret" not in ciphertext
    assert crypto.decrypt(ciphertext) == "gho_secret"
    assert Fernet(crypto.derived_key()).decrypt(ciphertext.encode()) == b"gho_secret"


def test_another_secret_key_cannot_decrypt(settings):
    settings.HUB_ENCRYPTION_KEY = ""
    ciphertext = crypto.encrypt("gho_secret")
    settings.SECRET_KEY = "another secret key"

    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(ciphertext)


def test_the_first_configured_key_encrypts_and_every_key_decrypts(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.HUB_ENCRYPTION_KEY = ""
    before_any_key = crypto.encrypt("one")
    settings.HUB_ENCRYPTION_KEY = old
    under_old = crypto.encrypt("two")
    settings.HUB_ENCRYPTION_KEY = f"{new}, {old}"

    under_new = crypto.encrypt("three")

    assert Fernet(new).decrypt(under_new.encode()) == b"three"
    assert [crypto.decrypt(c) for c in (before_any_key, under_old, under_new)] == [
        "one",
        "two",
        "three",
    ]


def test_a_malformed_key_is_a_configuration_error(settings):
    settings.HUB_ENCRYPTION_KEY = "not-a-fernet-key"

    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")
