"""Settings for the test suite: SQLite by default, PostgreSQL when
HUB_TEST_DATABASE_URL names one."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DATA_DIR = Path(tempfile.mkdtemp(prefix="hub-test-"))
DATABASES = {
    "default": env.db_url_config(
        env.str("HUB_TEST_DATABASE_URL", default="") or f"sqlite:///{DATA_DIR / 'hub.sqlite3'}"
    )
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    **STORAGES,  # noqa: F405
    "blobs": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "blobs", "allow_overwrite": True},
    },
    "uploads": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "uploads", "allow_overwrite": True},
    },
}
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
HUB_SCRATCH_DIR = DATA_DIR / "tmp"
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir()
HUB_TOKEN_KEY_FILE = DATA_DIR / "registry-token-key.pem"
HUB_PULL_FLUSH_AT_EXIT = False  # the test database is gone by then
# This run's own metrics files, not those of var/ (base named that directory).
HUB_METRICS_DIR = DATA_DIR / "metrics"
HUB_METRICS_DIR.mkdir()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(HUB_METRICS_DIR)
