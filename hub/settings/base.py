"""Settings for Hub. Every value that differs between installations comes from
an environment variable prefixed with ``HUB_`` (see the README)."""

import os
import re
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

DATA_DIR = Path(env.str("HUB_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()


def _secret_key(path):
    """Read the installation's secret key, creating it on first start."""
    if env.str("HUB_SECRET_KEY", default=""):
        return env.str("HUB_SECRET_KEY")
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race; use its key
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


SECRET_KEY = _secret_key(DATA_DIR / "secret_key")
DEBUG = env.bool("HUB_DEBUG", default=False)
ALLOWED_HOSTS = env.list("HUB_ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("HUB_CSRF_TRUSTED_ORIGINS", default=[])
# Behind a proxy that terminates TLS (deploy/nginx, an ingress), requests reach
# Hub over plain HTTP from the proxy's address. Trusted, the proxy's
# X-Forwarded-Proto says whether the client used HTTPS (the token realm in the
# registry's challenge, absolute URLs), and the last X-Forwarded-For address,
# the one the proxy added, is the client's for log-in lockouts (else every
# client would share the proxy's address). Only where nothing but the proxy
# reaches Hub: a client talking to Hub directly could forge both.
HUB_TRUST_PROXY_HEADERS = env.bool("HUB_TRUST_PROXY_HEADERS", default=False)
if HUB_TRUST_PROXY_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    def _client_address(request):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rpartition(",")[2].strip()
        return forwarded or request.META.get("REMOTE_ADDR")

    AXES_CLIENT_IP_CALLABLE = _client_address

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.bitbucket_oauth2",
    "axes",
    "hub",
    "accounts",
    "repositories",
    "builds",
]

MIDDLEWARE = [
    # First, so that the time it measures includes the other middleware.
    "hub.metrics.RequestMetricsMiddleware",
    # Early, so that every response carries its request's id and everything
    # logged while serving it names it.
    "hub.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Refuses logins while a lockout is in force; must come first.
    "axes.backends.AxesStandaloneBackend",
    # A ModelBackend that also logs in by email; one backend, so a wrong
    # password is hashed once.
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Web accounts (django-allauth) -------------------------------------------
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_LOGIN_METHODS = {"username", "email"}
# "mandatory", "optional" or "none".
ACCOUNT_EMAIL_VERIFICATION = env.str("HUB_EMAIL_VERIFICATION", default="optional")
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
EMAIL_BACKEND = env.str(
    "HUB_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env.str("HUB_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("HUB_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("HUB_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("HUB_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("HUB_EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("HUB_DEFAULT_FROM_EMAIL", default="hub@localhost")
LOGIN_URL = "account_login"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Hub] "
# Usernames are namespaces, which are lowercase: "Alice" signs up as "alice"
# and may log in as either.
ACCOUNT_PRESERVE_USERNAME_CASING = False
# django-axes counts failed log-ins (HUB_LOGIN_FAILURE_LIMIT, below); allauth's
# own, stricter count would refuse attempts before axes ever saw them.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
# A locked-out person gets a page that says why and for how long; registry
# clients keep the answer their endpoint gave.
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_response"

# Linked accounts (GitHub, Bitbucket) --------------------------------------
SOCIALACCOUNT_ADAPTER = "accounts.social.SocialAccountAdapter"
# Signing in (and signing up) with GitHub or Bitbucket. Off, those accounts
# can still be connected to a user who signed in with a password.
HUB_SOCIAL_LOGIN = env.bool("HUB_SOCIAL_LOGIN", default=False)
# Where the providers live: a GitHub Enterprise server, say, is
# HUB_GITHUB_URL=https://ghe.example.com and HUB_GITHUB_API_URL=https://ghe.example.com/api/v3.
HUB_GITHUB_URL = env.str("HUB_GITHUB_URL", default="https://github.com")
HUB_GITHUB_API_URL = env.str("HUB_GITHUB_API_URL", default="https://api.github.com")
HUB_BITBUCKET_URL = env.str("HUB_BITBUCKET_URL", default="https://bitbucket.org")
HUB_BITBUCKET_API_URL = env.str("HUB_BITBUCKET_API_URL", default="https://api.bitbucket.org/2.0")
# Listing repositories and installing webhooks needs more than the profile.
HUB_GITHUB_SCOPE = env.list("HUB_GITHUB_SCOPE", default=["user:email", "repo", "admin:repo_hook"])
# Seconds Hub waits for a provider's API.
HUB_PROVIDER_TIMEOUT = env.float("HUB_PROVIDER_TIMEOUT", default=10.0)
# Fernet keys, comma-separated, that encrypt the provider tokens kept in the
# database: the first encrypts, all decrypt. Unset, a key derived from
# SECRET_KEY is used (and it still decrypts after a key is set).
HUB_ENCRYPTION_KEY = env.str("HUB_ENCRYPTION_KEY", default="")
# Tokens are kept so builds can reach the repositories; Hub's own OAuth
# adapters encrypt them before allauth stores them (see accounts/social.py).
SOCIALACCOUNT_STORE_TOKENS = True
# Hub's provider classes replace allauth's, so that the URLs above are read
# per request rather than when allauth is imported.
SOCIALACCOUNT_PROVIDERS = {
    "github": {
        "provider_class": "accounts.providers.oauth.github.provider.GitHubProvider",
        "SCOPE": HUB_GITHUB_SCOPE,
    },
    "bitbucket_oauth2": {
        "provider_class": "accounts.providers.oauth.bitbucket.provider.BitbucketProvider",
    },
}
for _provider, _prefix in [("github", "HUB_GITHUB"), ("bitbucket_oauth2", "HUB_BITBUCKET")]:
    if env.str(f"{_prefix}_CLIENT_ID", default=""):
        SOCIALACCOUNT_PROVIDERS[_provider]["APP"] = {
            "client_id": env.str(f"{_prefix}_CLIENT_ID"),
            "secret": env.str(f"{_prefix}_CLIENT_SECRET", default=""),
        }


ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# /v2/ paths never end in a slash and must not be redirected.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hub.context_processors.registry_host",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("HUB_DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'hub.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several server processes and a worker share the file: let writers queue
    # rather than fail, and take the write lock when a transaction begins.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # A database host that takes connections but never answers (a network
    # partition, a stalled failover) would otherwise hold every request, and
    # the readiness probe, without limit. A URL's ?connect_timeout= wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("HUB_DB_CONNECT_TIMEOUT", default=5)
    )
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("HUB_DB_CONN_MAX_AGE", default=60))
# A kept connection is checked before a request reuses it, so a restarted
# database costs no failed request in each process that held a connection.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds hot repositories, manifests, tag lists and blob lookups. It
# must be shared by every server process, so the default is a directory, and
# production uses Redis. Redis is an accelerator, not a dependency: while it
# is unreachable hub.cache answers misses and skips writes (see there), after
# waiting at most HUB_CACHE_TIMEOUT seconds to connect or for an answer.
HUB_CACHE_TIMEOUT = env.float("HUB_CACHE_TIMEOUT", default=0.5)
_cache_url = env.str("HUB_CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}")
if _cache_url.partition("://")[0] in ("redis", "rediss", "rediscache"):
    # Parsed as for Django's own backend (lower-case OPTIONS), whichever one
    # django-environ would pick, then served by its subclass.
    _cache = env.cache_url(
        "HUB_CACHE_URL", default=_cache_url, backend="django.core.cache.backends.redis.RedisCache"
    )
    _cache["BACKEND"] = "hub.cache.ResilientRedisCache"
    _cache.setdefault("OPTIONS", {})
    _cache["OPTIONS"].setdefault("socket_connect_timeout", HUB_CACHE_TIMEOUT)
    _cache["OPTIONS"].setdefault("socket_timeout", HUB_CACHE_TIMEOUT)
else:
    _cache = env.cache_url("HUB_CACHE_URL", default=_cache_url)
CACHES = {"default": _cache}

# Django's PBKDF2, computed where it holds up no other request (accounts.hashers);
# PBKDF2 with SHA-1 still checks passwords stored that way.
PASSWORD_HASHERS = [
    "accounts.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("HUB_STATIC_ROOT", default=str(DATA_DIR / "static")))
# `serve` collects the static files when it starts the web server. An image
# that collected them when it was built (the Dockerfile) turns that off.
HUB_COLLECT_STATIC = env.bool("HUB_COLLECT_STATIC", default=True)
# Front-end packages from npm (package.json; `make` runs `npm ci`).
STATICFILES_DIRS = [("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist")]

# Blob storage. ``blobs`` holds content-addressed objects; ``uploads`` holds the
# parts of upload sessions in progress. Both must be shared by every process
# that serves the registry (a local directory on one host, S3 across hosts).
HUB_STORAGE = env.str("HUB_STORAGE", default="filesystem")
if HUB_STORAGE == "s3":
    _s3_options = {
        "bucket_name": env.str("HUB_S3_BUCKET"),
        "endpoint_url": env.str("HUB_S3_ENDPOINT_URL", default=None),
        "region_name": env.str("HUB_S3_REGION", default=None),
        "access_key": env.str("HUB_S3_ACCESS_KEY_ID", default=None),
        "secret_key": env.str("HUB_S3_SECRET_ACCESS_KEY", default=None),
        "file_overwrite": True,
        "querystring_auth": True,
        "querystring_expire": env.int("HUB_S3_URL_EXPIRY", default=600),
    }
    _blob_backend = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}
    _upload_backend = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3_options, "location": "uploads"},
    }
elif HUB_STORAGE == "filesystem":
    _blob_backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "blobs", "allow_overwrite": True},
    }
    _upload_backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "uploads", "allow_overwrite": True},
    }
else:
    raise environ.ImproperlyConfigured("HUB_STORAGE must be 'filesystem' or 's3'")

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "blobs": _blob_backend,
    "uploads": _upload_backend,
}

# Where request bodies are received (a monolithic upload, a blob assembled
# from S3 parts) before they move into blob storage. On the same file system
# as the blob directory, the move is a rename.
HUB_SCRATCH_DIR = Path(env.str("HUB_SCRATCH_DIR", default=str(DATA_DIR / "tmp")))
# A scratch file no request holds (a killed process's) is deleted once it has
# not changed for this many seconds; a live request's file is never deleted,
# however long its client pauses (see blobstore.scratch_sweep).
HUB_SCRATCH_MAX_AGE = env.int("HUB_SCRATCH_MAX_AGE", default=3600)

# HTTPS served by Hub itself, with no proxy in front: the certificate (chain)
# and its private key, PEM files. Both or neither.
HUB_TLS_CERT = env.str("HUB_TLS_CERT", default="")
HUB_TLS_KEY = env.str("HUB_TLS_KEY", default="")
if bool(HUB_TLS_CERT) != bool(HUB_TLS_KEY):
    raise environ.ImproperlyConfigured("Set both HUB_TLS_CERT and HUB_TLS_KEY, or neither.")

# How blob downloads leave the server:
#   "sendfile"  the kernel copies the file to the socket (filesystem storage;
#               a Range request is streamed);
#   "stream"    Hub copies the object to the socket in 1 MiB chunks;
#   "x-accel"   nginx sends it, from the internal location HUB_X_ACCEL_PREFIX;
#   "redirect"  the client is redirected to a presigned storage URL (S3).
# With many slow clients, "sendfile" holds no buffer per connection and kept
# other requests' latency lowest (README, Performance), so it is the
# filesystem default. Over TLS the kernel cannot send a file (the bytes are
# encrypted in the process), and gunicorn would then send it in small
# pieces: "stream" is the default there.
HUB_BLOB_DELIVERY = env.str(
    "HUB_BLOB_DELIVERY",
    default="redirect" if HUB_STORAGE == "s3" else "stream" if HUB_TLS_CERT else "sendfile",
)
HUB_X_ACCEL_PREFIX = env.str("HUB_X_ACCEL_PREFIX", default="/_blobs/")

HUB_MAX_MANIFEST_SIZE = env.int("HUB_MAX_MANIFEST_SIZE", default=4 * 1024 * 1024)
# Accept manifests whose blobs or child manifests are not in the repository
# (sparse mirrors). Off: such a push fails with MANIFEST_BLOB_UNKNOWN.
HUB_ALLOW_SPARSE_MANIFESTS = env.bool("HUB_ALLOW_SPARSE_MANIFESTS", default=False)
HUB_MAX_BLOB_SIZE = env.int("HUB_MAX_BLOB_SIZE", default=20 * 1024**3)
# Bytes each namespace (a user's or an organization's repositories) may
# store, unless staff set its own quota; 0: no limit.
HUB_NAMESPACE_QUOTA_BYTES = env.int("HUB_NAMESPACE_QUOTA_BYTES", default=0)
# An upload session idle this long is abandoned and swept, with the empty
# repository its push began and parts no session lists. A push that is still
# sending touches its session with every chunk, so this bounds only how long
# a dead push holds space; it must exceed the longest single request (one
# PATCH of a large layer over a slow link).
HUB_UPLOAD_MAX_AGE = env.int("HUB_UPLOAD_MAX_AGE", default=6 * 3600)
# Blobs no manifest needs are deleted this long after they were pushed.
HUB_GC_GRACE_SECONDS = env.int("HUB_GC_GRACE_SECONDS", default=24 * 3600)
HUB_PAGE_SIZE_MAX = env.int("HUB_PAGE_SIZE_MAX", default=1000)
# The platform served to a client that cannot read an image index.
HUB_DEFAULT_PLATFORM = env.str("HUB_DEFAULT_PLATFORM", default="linux/amd64")
# Pulls are counted in memory and written in batches: after this many pulls
# or this many seconds, whichever comes first.
HUB_PULL_BATCH_SIZE = env.int("HUB_PULL_BATCH_SIZE", default=1000)
HUB_PULL_FLUSH_SECONDS = env.int("HUB_PULL_FLUSH_SECONDS", default=10)
HUB_PULL_FLUSH_AT_EXIT = True
HUB_MANIFEST_CACHE_SECONDS = env.int("HUB_MANIFEST_CACHE_SECONDS", default=300)
# A /v2/ or /token request that fails because the database, the cache, blob
# storage or the task broker is down answers 503 with this Retry-After, in
# seconds (repositories/registry/outages.py).
HUB_OUTAGE_RETRY_AFTER = env.int("HUB_OUTAGE_RETRY_AFTER", default=10)

# Celery. The embedded default is a broker that needs no server: a directory.
CELERY_BROKER_URL = env.str("HUB_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged message to another worker after this
    # long; a build's message stays unacknowledged while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": max(3600, env.int("HUB_BUILD_TIMEOUT", default=30 * 60) + 900)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("HUB_CELERY_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    # Often, so a failed push's leftovers go soon after they turn stale.
    "sweep-stale-uploads": {
        "task": "repositories.tasks.upload_sweep_task",
        "schedule": 600.0,
    },
    "refresh-search-ranking": {
        "task": "repositories.tasks.search_index_refresh_task",
        "schedule": 24 * 3600.0,
    },
    "collect-garbage": {
        "task": "repositories.tasks.blob_collect_garbage_task",
        "schedule": 6 * 3600.0,
    },
    "reap-and-dispatch-builds": {
        "task": "builds.tasks.builds_reap_task",
        "schedule": env.float("HUB_BUILD_REAP_SECONDS", default=30.0),
    },
    "resend-undelivered-events": {
        "task": "repositories.tasks.events_resend_task",
        "schedule": 30.0,
    },
    "prune-delivered-events": {
        "task": "repositories.tasks.events_prune_task",
        "schedule": 3600.0,
    },
    "redispatch-webhook-deliveries": {
        "task": "builds.tasks.repository_webhooks_redispatch_task",
        "schedule": 60.0,
    },
}
# Events (a push, say) are kept in the database until a worker has delivered
# them. One still undelivered this many seconds after it was handed to the
# workers (its message lost, or the broker down when it was written) is
# handed over again; delivered ones are deleted after HUB_EVENT_RETENTION_DAYS.
HUB_EVENT_RESEND_SECONDS = env.int("HUB_EVENT_RESEND_SECONDS", default=60)
HUB_EVENT_RETENTION_DAYS = env.int("HUB_EVENT_RETENTION_DAYS", default=7)
# Builds run on their own queue, acknowledged only when done: a worker that
# dies mid-build leaves its message for another worker (or the reaper).
CELERY_TASK_ROUTES = {"builds.tasks.build_run_task": {"queue": "builds"}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# The server that ``manage.py serve`` (and so ``make run``) starts, and
# whether it fills an empty hub with demo content on first start.
HUB_DEMO = env.bool("HUB_DEMO", default=True)
HUB_ADDR = env.str("HUB_ADDR", default="127.0.0.1:8000")
# Hub's address as others see it: in webhook URLs given to GitHub and
# Bitbucket, and in the links of outgoing notifications.
# By default the address served, with a wildcard host (0.0.0.0, as in a
# container) read as this host.
HUB_URL = env.str(
    "HUB_URL",
    default="{}://{}".format(
        "https" if HUB_TLS_CERT else "http",
        re.sub(r"^(0\.0\.0\.0|\[::\]):", "localhost:", HUB_ADDR),
    ),
).rstrip("/")
# Where builders reach Hub's registry to pull base images and push results
# (an internal address, say); plain http is treated as an insecure registry.
HUB_REGISTRY_URL = env.str("HUB_REGISTRY_URL", default=HUB_URL).rstrip("/")
HUB_WEB_WORKERS = env.int("HUB_WEB_WORKERS", default=2)
# Connections each web process serves at once, idle keep-alive ones included.
HUB_WEB_CONNECTIONS = env.int("HUB_WEB_CONNECTIONS", default=1000)
# Seconds an idle client connection stays open. Keep it above the idle timeout
# of any load balancer or proxy in front (AWS ALB: 60), so that the proxy, not
# Hub, closes idle connections: otherwise a request the proxy sends just as Hub
# closes fails with a reset (hub/gunicorn.conf.py says more).
HUB_WEB_KEEPALIVE = env.int("HUB_WEB_KEEPALIVE", default=75)
# A web worker silent for this long is killed and replaced; on a stop, requests
# in flight get HUB_WEB_GRACEFUL_TIMEOUT seconds to finish.
HUB_WEB_TIMEOUT = env.int("HUB_WEB_TIMEOUT", default=120)
HUB_WEB_GRACEFUL_TIMEOUT = env.int("HUB_WEB_GRACEFUL_TIMEOUT", default=30)
# One line per request on standard output (without query strings).
HUB_WEB_ACCESS_LOG = env.bool("HUB_WEB_ACCESS_LOG", default=True)
# The host name clients use in `docker login HOST`; by default the request's.
HUB_REGISTRY_HOST = env.str("HUB_REGISTRY_HOST", default="")

# Registry tokens (Docker's token authentication).
HUB_REGISTRY_SERVICE = env.str("HUB_REGISTRY_SERVICE", default="hub-registry")
HUB_TOKEN_ISSUER = env.str("HUB_TOKEN_ISSUER", default="hub-token-service")
# The token endpoint's absolute URL for the challenge; by default, /token on the requested host.
HUB_TOKEN_REALM = env.str("HUB_TOKEN_REALM", default="")
HUB_TOKEN_LIFETIME = env.int("HUB_TOKEN_LIFETIME", default=300)
# The signing key, as PEM; without it, one is generated into the data directory.
HUB_TOKEN_KEY = env.str("HUB_TOKEN_KEY", default="", multiline=True)
HUB_TOKEN_KEY_FILE = DATA_DIR / "registry-token-key.pem"
HUB_REFRESH_TOKEN_DAYS = env.int("HUB_REFRESH_TOKEN_DAYS", default=90)
# How long verified Basic credentials are recognised without hashing again.
HUB_CREDENTIALS_CACHE_SECONDS = env.int("HUB_CREDENTIALS_CACHE_SECONDS", default=300)

# Failed logins, on the web and at the token endpoint (django-axes): after
# HUB_LOGIN_FAILURE_LIMIT failures for one username from one address, that
# username is refused from that address for HUB_LOGIN_LOCKOUT_MINUTES; after
# HUB_LOGIN_ADDRESS_FAILURE_LIMIT failures from one address for any usernames,
# the whole address is. The second is much higher because many people may
# share one address (an office behind NAT): one person's typos must not lock
# out the rest. No limit counts a username alone, so nobody can lock another
# person out from elsewhere. accounts/lockout.py counts; staff lift lockouts
# in the admin (Access attempts, "Lift the lockout").
HUB_LOGIN_FAILURE_LIMIT = env.int("HUB_LOGIN_FAILURE_LIMIT", default=10)
HUB_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("HUB_LOGIN_ADDRESS_FAILURE_LIMIT", default=100)
HUB_LOGIN_LOCKOUT_MINUTES = env.int("HUB_LOGIN_LOCKOUT_MINUTES", default=15)
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_USERNAME_CALLABLE = "accounts.lockout.username_of"
AXES_FAILURE_LIMIT = HUB_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = HUB_LOGIN_LOCKOUT_MINUTES / 60
# What a successful log-in clears (the handler counts the address itself): by
# address too, one account's success would wipe everyone's failures there.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# "text": a line per record for people to read; "json": one JSON object per
# line (time, level, logger, message, process, request_id, ...) for a log
# collector, from the web server's error and access logs and the Celery
# workers too (hub/logs.py).
HUB_LOG_FORMAT = env.str("HUB_LOG_FORMAT", default="text")
if HUB_LOG_FORMAT not in ("text", "json"):
    raise environ.ImproperlyConfigured("HUB_LOG_FORMAT must be 'text' or 'json'")
LOGGING_CONFIG = "hub.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "hub.logs.RequestIdFilter"}},
    "formatters": {
        "text": {
            "()": "hub.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
        },
        "json": {"()": "hub.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": HUB_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("HUB_LOG_LEVEL", default="INFO")},
    "loggers": {
        # axes says INFO about every successful log-in, and registry clients
        # log in on every request; lockouts are WARNING and still show.
        "axes": {"level": "WARNING"},
        # Every 4xx is a WARNING here (each docker pull starts with a 401);
        # the access log has them all. Server errors still show.
        "django.request": {"level": "ERROR"},
    },
}

# REST API -----------------------------------------------------------------
# /api/v1/ (Django REST framework) with its OpenAPI schema at /api/schema/
# and Swagger UI at /api/docs/. The UI's scripts come from
# drf-spectacular-sidecar through the static files, so the docs work with no
# internet access. (No Redoc page: drf-spectacular's Redoc template loads
# Google Fonts.)
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK = {
    # The first class names the challenge of a 401: Bearer, which no browser
    # answers with a login prompt.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_auth.BearerTokenAuthentication",
        "accounts.api_auth.BasicAuthentication",
        "accounts.api_auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticatedOrReadOnly",
        "accounts.api_auth.TokenScopeAllowsMethod",
    ],
    "DEFAULT_PAGINATION_CLASS": "repositories.api.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("HUB_API_PAGE_SIZE", default=25),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
HUB_API_PAGE_SIZE_MAX = env.int("HUB_API_PAGE_SIZE_MAX", default=100)
SPECTACULAR_SETTINGS = {
    "TITLE": "Hub API",
    "DESCRIPTION": (
        "Repositories, tags, stars, users and organizations. Authenticate with a "
        "personal access token (`Authorization: Bearer hub_pat_…`), Basic credentials "
        "(a password or an access token) or the browser's session; a token's scope "
        "caps what it may do."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge fetched from the online validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# Builds -------------------------------------------------------------------
# Git URLs and outgoing webhook URLs may not reach loopback, private,
# link-local or other non-public addresses. These host names, addresses or
# networks (CIDR) are allowed anyway, e.g. "git.internal,10.1.0.0/16".
HUB_BUILDS_ALLOWED_HOSTS = env.list("HUB_BUILDS_ALLOWED_HOSTS", default=[])
# Lift that guard entirely (a hub that only builds from an internal network).
HUB_ALLOW_PRIVATE_NETWORKS = env.bool("HUB_ALLOW_PRIVATE_NETWORKS", default=False)
# A build's log keeps at most this many bytes; the rest is cut.
HUB_BUILD_LOG_MAX_BYTES = env.int("HUB_BUILD_LOG_MAX_BYTES", default=10 * 1024 * 1024)
# A build that runs longer than this (clone, build and push) is stopped and failed.
HUB_BUILD_TIMEOUT = env.int("HUB_BUILD_TIMEOUT", default=30 * 60)
# A running build's worker says it is alive this often; the reaper fails a
# build that has not been heard of for HUB_BUILD_HEARTBEAT_TIMEOUT seconds.
HUB_BUILD_HEARTBEAT_SECONDS = env.float("HUB_BUILD_HEARTBEAT_SECONDS", default=5.0)
HUB_BUILD_HEARTBEAT_TIMEOUT = env.int("HUB_BUILD_HEARTBEAT_TIMEOUT", default=120)
# A build handed to the workers but not started after this long is handed
# over again (its message may have gone with a worker); one still waiting
# after HUB_BUILD_QUEUE_TIMEOUT fails, saying so.
HUB_BUILD_REDISPATCH_SECONDS = env.int("HUB_BUILD_REDISPATCH_SECONDS", default=600)
HUB_BUILD_QUEUE_TIMEOUT = env.int("HUB_BUILD_QUEUE_TIMEOUT", default=6 * 3600)
# Builds running at once in one namespace, and builds handed to workers at
# once for one repository. A build past either limit waits, and says why.
HUB_BUILDS_MAX_RUNNING_PER_NAMESPACE = env.int("HUB_BUILDS_MAX_RUNNING_PER_NAMESPACE", default=2)
HUB_BUILDS_MAX_QUEUED_PER_REPOSITORY = env.int("HUB_BUILDS_MAX_QUEUED_PER_REPOSITORY", default=1)
# The builder ("buildah", or "docker" for a Docker/BuildKit daemon at DOCKER_HOST),
# the network a build's RUN steps get ("host": the worker's own, which can
# reach what the worker reaches; "none": no network at all), and where
# builders keep their storage and per-repository layer caches.
HUB_BUILDER = env.str("HUB_BUILDER", default="buildah")
HUB_BUILD_NETWORK = env.str("HUB_BUILD_NETWORK", default="host")
HUB_BUILD_DIR = env.path("HUB_BUILD_DIR", default=DATA_DIR / "builds")
# buildah's storage driver: vfs works everywhere; overlay is faster where the kernel allows it.
HUB_BUILDAH_STORAGE_DRIVER = env.str("HUB_BUILDAH_STORAGE_DRIVER", default="vfs")
# Build hooks (hooks/post_checkout, pre_build, post_push) run in a container of this image.
HUB_BUILD_HOOK_IMAGE = env.str("HUB_BUILD_HOOK_IMAGE", default="library/busybox")
# Celery worker processes for builds that `manage.py serve` starts.
HUB_BUILD_WORKERS = env.int("HUB_BUILD_WORKERS", default=1)

# Repository webhooks (notifications sent after every push). A delivery that
# does not get a 2xx answer is tried again after each of these delays, in
# seconds; after the last one it is marked failed. Each attempt waits at most
# HUB_WEBHOOK_TIMEOUT seconds for the answer.
HUB_WEBHOOK_RETRY_DELAYS = env.list(
    "HUB_WEBHOOK_RETRY_DELAYS", cast=float, default=[10, 60, 300, 1800]
)
HUB_WEBHOOK_TIMEOUT = env.float("HUB_WEBHOOK_TIMEOUT", default=10.0)
# A pending delivery whose next attempt is this many seconds overdue is taken
# to have lost its message (with the broker, say) and is handed over again.
HUB_WEBHOOK_REDISPATCH_SECONDS = env.int("HUB_WEBHOOK_REDISPATCH_SECONDS", default=300)

# Metrics (/metrics, hub/metrics.py) -------------------------------------------
# Every process (web workers, Celery workers) writes its values to files here,
# and a scrape adds them up: prometheus_client's multiprocess mode, which
# reads PROMETHEUS_MULTIPROC_DIR when it is imported. That variable is set
# here, from this setting, and not only by default: a process started by
# another one (gunicorn by `serve`, a test's server) inherits the parent's
# value, which names the parent's data directory, not its own.
HUB_METRICS_DIR = Path(env.str("HUB_METRICS_DIR", default=str(DATA_DIR / "metrics")))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(HUB_METRICS_DIR)
HUB_METRICS_DIR.mkdir(parents=True, exist_ok=True)
# Who may read /metrics: a scraper sending "Authorization: Bearer <token>", and
# clients from these networks (CIDR, comma-separated: "10.0.0.0/8,127.0.0.1/32"),
# told by the connection's address, never by X-Forwarded-For. With neither,
# /metrics answers 404.
HUB_METRICS_TOKEN = env.str("HUB_METRICS_TOKEN", default="")
HUB_METRICS_NETWORKS = env.list("HUB_METRICS_NETWORKS", default=[])
