from django.contrib.auth import hashers

from accounts.hashers import PBKDF2PasswordHasher


def test_hashes_are_djangos_own_both_ways():
    """Passwords stored before (by Django's hasher) still check, and those
    stored now would check with Django's."""
    ours, djangos = PBKDF2PasswordHasher(), hashers.PBKDF2PasswordHasher()
    stored_before = djangos.encode("correct horse", "somesalt", iterations=1000)
    assert ours.verify("correct horse", stored_before)
    assert not ours.verify("wrong horse", stored_before)
    stored_now = ours.encode("battery staple", "othersalt", iterations=1000)
    assert stored_now == djangos.encode("battery staple", "othersalt", iterations=1000)
    assert djangos.verify("battery staple", stored_now)


def test_it_is_the_hasher_for_djangos_stored_hashes(settings):
    settings.PASSWORD_HASHERS = [
        "accounts.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ]
    stored = hashers.PBKDF2PasswordHasher().encode("secret", "salt", iterations=1000)
    assert isinstance(hashers.identify_hasher(stored), PBKDF2PasswordHasher)
    assert hashers.check_password("secret", stored)
