"""Password hashing that leaves the web server's other requests alone."""

from django.contrib.auth import hashers

from hub import threads


class PBKDF2PasswordHasher(hashers.PBKDF2PasswordHasher):
    """Django's PBKDF2 (the same algorithm and the same stored hashes),
    computed on a native thread (hub.threads). A check takes about 0.4 s of
    CPU at Django's iteration count; in the web server, where requests are
    greenlets of one thread, it would stop every request of the process for
    that long: every pull waiting on someone's `docker login`."""

    def encode(self, password, salt, iterations=None):
        return threads.start(super().encode, password, salt, iterations).get()
