"""Haat settings, read from the environment with django-environ.

With no environment at all the defaults give a working local setup: SQLite, the django-q2 ORM broker,
a local-memory cache and no external event bus. Every variable is documented in `.env.example` and in
the README's configuration table.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# An insecure key is acceptable only for local runs; `check --deploy` flags it, production sets SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-haat-local-development-key-change-me")
# Old keys stay readable after a rotation (sessions, signed state, encrypted credentials).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# Salts for the key derivation of encrypted fields; a list allows rotating them too (docs/operations.md).
SALT_KEY = env.list("FIELD_ENCRYPTION_SALTS", default=["haat-credentials-v1"])

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public base URL of this deployment: OAuth redirect URIs and webhook addresses are built from it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "import_export",
    "apps.core",
    "apps.accounts",
    "apps.integrations",
    "apps.catalog",
    "apps.inventory",
    "apps.orders",
    "apps.events",
    "apps.sandbox",
    "apps.dashboard",
    "apps.tenders",
    "apps.ops",
    "auditlog",
    "apps.reviews",
]

MIDDLEWARE = [
    "apps.ops.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
                "apps.core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the qcluster share one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# Persistent connections, SQLite included: closing the last connection to a WAL database checkpoints and
# fsyncs it, which per request cost more than the request itself (bench/webhooks.py).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://haat")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("hi", "हिन्दी")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Kolkata")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Haat <no-reply@haat.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security: strict by default when DEBUG is off; `manage.py check --deploy` passes with production values.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# django-q2: the ORM broker by default, Redis when Q_BROKER_URL is set.
Q_BROKER_URL = env.str("Q_BROKER_URL", default="")
Q_CLUSTER = {
    "name": "haat",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),
    "max_attempts": 1,
    "queue_limit": 50,
    "bulk": 10,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "poll": 0.5,
    "label": "Django Q2",
}
if Q_BROKER_URL:
    Q_CLUSTER["redis"] = Q_BROKER_URL
else:
    Q_CLUSTER["orm"] = "default"
# Tests and one-off commands may run tasks inline (django-q2's `sync` mode).
Q_CLUSTER["sync"] = env.bool("Q_SYNC", default=False)

# The external event bus (kombu URL: amqp://, redis://); empty keeps events in the outbox only.
EVENT_BUS_URL = env.str("EVENT_BUS_URL", default="")
EVENT_BUS_EXCHANGE = env.str("EVENT_BUS_EXCHANGE", default="haat.events")
# A durable queue bound to the exchange with "#", so events wait for consumers that are not yet connected.
EVENT_BUS_QUEUE = env.str("EVENT_BUS_QUEUE", default="haat.events")

# Inbound webhooks: processed and ignored deliveries are deleted after this many days (failed ones stay).
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
# Proxies in front of Haat (CIDRs) whose X-Forwarded-For is believed when a platform is verified by its source
# address (Yandex Market, Ozon); empty: the socket's address (REMOTE_ADDR) is the sender. See docs/webhooks.md.
WEBHOOK_TRUSTED_PROXIES = env.list("WEBHOOK_TRUSTED_PROXIES", default=[])
# The networks the platforms publish as the sources of their notifications (official values; update without a
# release when a platform announces new ones).
YANDEX_MARKET_NOTIFICATION_NETWORKS = env.list(
    "YANDEX_MARKET_NOTIFICATION_NETWORKS", default=["5.45.207.0/25", "141.8.142.0/25", "5.255.253.0/25"])
OZON_PUSH_NETWORKS = env.list("OZON_PUSH_NETWORKS", default=["195.34.21.0/24", "185.73.192.0/22", "91.223.93.0/24"])

# Sync engine
SYNC_DEFAULT_POLL_INTERVAL = timedelta(minutes=env.int("SYNC_DEFAULT_POLL_MINUTES", default=15))
SYNC_OVERLAP = timedelta(minutes=env.int("SYNC_OVERLAP_MINUTES", default=10))
SYNC_BACKFILL = timedelta(days=env.int("SYNC_BACKFILL_DAYS", default=30))
HTTP_TIMEOUT = env.float("HTTP_TIMEOUT_SECONDS", default=30.0)
HTTP_MAX_RETRIES = env.int("HTTP_MAX_RETRIES", default=5)
# Upper bound on one backoff wait, so a hostile Retry-After cannot park a worker for hours.
HTTP_MAX_BACKOFF = env.float("HTTP_MAX_BACKOFF_SECONDS", default=60.0)

# The sandbox marketplaces (apps/sandbox): on for the demo and the tests, never in production.
SANDBOX = env.bool("SANDBOX", default=False)
SANDBOX_SEED = env.int("SANDBOX_SEED", default=42)
SANDBOX_ORDERS = env.int("SANDBOX_ORDERS", default=200)
SANDBOX_PRODUCTS = env.int("SANDBOX_PRODUCTS", default=24)
# e.g. "error=0.1,429=0.05,latency=0.2,truncate=0.05"
SANDBOX_FAULTS = env.str("SANDBOX_FAULTS", default="")
# Where the sandbox sends signed webhooks (the app's own base URL).
SANDBOX_WEBHOOK_TARGET = env.str("SANDBOX_WEBHOOK_TARGET", default=SITE_URL)
# Where connections made with SANDBOX on point (API base URLs, OAuth consent pages); read only through
# apps.integrations.services.sandbox_root().
SANDBOX_ROOT_URL = (env.str("SANDBOX_ROOT_URL", default="") or f"{SITE_URL}/sandbox").rstrip("/")

# Platform application credentials (the app's own, not a seller's): OAuth client ids and secrets.
# With the sandbox on and nothing set, the sandbox's demo app is used (these values are public demo keys
# that only the sandbox accepts).


def _sandbox_default(value: str) -> str:
    return value if SANDBOX else ""


AMAZON_SP_APP_ID = env.str("AMAZON_SP_APP_ID", default=_sandbox_default("amzn1.sp.solution.haat-sandbox-app"))
AMAZON_LWA_CLIENT_ID = env.str("AMAZON_LWA_CLIENT_ID", default=_sandbox_default("amzn1.application-oa2-client.haatsandbox"))
AMAZON_LWA_CLIENT_SECRET = env.str("AMAZON_LWA_CLIENT_SECRET", default=_sandbox_default("amzn1.oa2-cs.v1.haat-sandbox-secret"))
AMAZON_AUTH_DRAFT_APP = env.bool("AMAZON_AUTH_DRAFT_APP", default=False)
SHOPIFY_CLIENT_ID = env.str("SHOPIFY_CLIENT_ID", default=_sandbox_default("haat-sandbox-shopify-client"))
SHOPIFY_CLIENT_SECRET = env.str("SHOPIFY_CLIENT_SECRET", default=_sandbox_default("shpss_haat_sandbox_secret"))
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2025-01")
SHOPIFY_SCOPES = env.list(
    "SHOPIFY_SCOPES",
    default=["read_orders", "write_orders", "read_products", "write_products", "read_inventory",
             "write_inventory", "read_fulfillments", "write_fulfillments", "read_merchant_managed_fulfillment_orders",
             "write_merchant_managed_fulfillment_orders"],
)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.PartnerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {"partner_token": env.str("API_THROTTLE_RATE", default="600/min")},
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.api.PartnerTokenThrottle"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.PartnerCursorPagination",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Haat partner API",
    "DESCRIPTION": "Orders, catalog, stock and channels of the SHGs a partner serves.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "apps.core.api.add_common_errors"],
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "json": one JSON object per line with request and connection ids (apps/core/logging.py); "plain" for people.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "apps.core.logging.RedactSecretsFilter"},
                "context": {"()": "apps.core.logging.ContextFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(connection_id)s] %(message)s"},
                   "json": {"()": "apps.core.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_FORMAT == "json" else "plain",
                             "filters": ["context", "redact"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Operations (apps/ops, docs/operations.md): circuit breakers, alerts, probes and metrics.
OPS_BREAKER_THRESHOLD = env.int("OPS_BREAKER_THRESHOLD", default=3)
OPS_BREAKER_COOLDOWN = timedelta(minutes=env.int("OPS_BREAKER_COOLDOWN_MINUTES", default=5))
OPS_BREAKER_MAX_COOLDOWN = timedelta(minutes=env.int("OPS_BREAKER_MAX_COOLDOWN_MINUTES", default=120))
OPS_CHECK_MINUTES = env.int("OPS_CHECK_MINUTES", default=60)
OPS_CHECK_INTERVAL = timedelta(minutes=OPS_CHECK_MINUTES)
OPS_SLOW_SYNC_SECONDS = env.int("OPS_SLOW_SYNC_SECONDS", default=300)
OPS_STALE_AFTER_INTERVALS = 2
OPS_WEBHOOK_BACKLOG_AGE = timedelta(minutes=env.int("OPS_WEBHOOK_BACKLOG_MINUTES", default=15))
OPS_WEBHOOK_BACKLOG_COUNT = env.int("OPS_WEBHOOK_BACKLOG_COUNT", default=500)
OPS_ALERT_QUIET_PERIOD = timedelta(hours=env.int("OPS_ALERT_QUIET_HOURS", default=6))
OPS_ALERT_RENOTIFY = timedelta(hours=env.int("OPS_ALERT_RENOTIFY_HOURS", default=24))
OPS_HEARTBEAT_MAX_AGE = env.int("OPS_HEARTBEAT_MAX_AGE_SECONDS", default=180)
# A bearer token for Prometheus to scrape /metrics; empty: staff sessions only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The sandbox keeps its "stopped platforms" flags as files here (shared by the web and qcluster processes).
SANDBOX_STATE_DIR = env.path("SANDBOX_STATE_DIR", default=BASE_DIR / ".sandbox-state")
