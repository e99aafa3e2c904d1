"""Relance settings: one file, read from the environment (ARCHITECTURE.md, "Settings").

Two modes:
- embedded (default): SQLite files under var/, secrets generated into var/ on first run;
- production (RELANCE_ENV=production): every secret and database must be given, or start-up
  stops with a message naming what is missing.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from relance.lib.env import (
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    generated_secret,
    new_django_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
RELANCE_ENV = (env_str("RELANCE_ENV", "embedded") or "embedded").strip().lower()
if RELANCE_ENV not in {"embedded", "production"}:
    raise ImproperlyConfigured(f"RELANCE_ENV must be 'embedded' or 'production', not {RELANCE_ENV!r}.")
PRODUCTION = RELANCE_ENV == "production"
VAR_DIR = Path(env_str("RELANCE_VAR_DIR", str(BASE_DIR / "var")))

_missing: list[str] = []


def _required(name: str, value):
    if PRODUCTION and not value:
        _missing.append(name)
    return value


# --- secrets -------------------------------------------------------------------------------
SECRET_KEY = _required("SECRET_KEY", env_secret("SECRET_KEY"))
RELANCE_MASTER_KEY = _required("RELANCE_MASTER_KEY (or RELANCE_MASTER_KEY_FILE)", env_secret("RELANCE_MASTER_KEY"))
if not PRODUCTION:
    from relance.lib.crypto import new_master_key_line

    SECRET_KEY = SECRET_KEY or generated_secret(VAR_DIR / "secret_key", new_django_secret)
    if not RELANCE_MASTER_KEY:
        # The keyring file may be rewritten by `relance keys rotate --master --generate`.
        RELANCE_MASTER_KEY_FILE = str(VAR_DIR / "master.key")
        generated_secret(Path(RELANCE_MASTER_KEY_FILE), new_master_key_line)
RELANCE_MASTER_KEY_FILE = env_str("RELANCE_MASTER_KEY_FILE") or globals().get("RELANCE_MASTER_KEY_FILE")

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"])
_required("ALLOWED_HOSTS", ALLOWED_HOSTS)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- databases -----------------------------------------------------------------------------
# The key store is its own database so that erasing a subject's key reaches backups of the
# main database too. SQLite: IMMEDIATE transactions avoid lock-upgrade deadlocks between writers.
_SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def _database(url_name: str, sqlite_file: str, extra_init: str = "") -> dict:
    url = env_secret(url_name)
    if url:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
        if config["ENGINE"].endswith("sqlite3"):
            config["OPTIONS"] = {**_SQLITE_OPTIONS, "init_command": _SQLITE_OPTIONS["init_command"] + extra_init}
        return config
    _required(url_name, None)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / sqlite_file,
        "OPTIONS": {**_SQLITE_OPTIONS, "init_command": _SQLITE_OPTIONS["init_command"] + extra_init},
    }


DATABASES = {
    "default": _database("DATABASE_URL", "relance.sqlite3"),
    # secure_delete overwrites freed pages, so a destroyed key does not linger in the file.
    "keys": _database("RELANCE_KEYSTORE_URL", "keys.sqlite3", " PRAGMA secure_delete=ON;"),
}
DATABASE_ROUTERS = ["relance.keystore.router.KeystoreRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if _missing:
    raise ImproperlyConfigured(
        "Relance cannot start in production: missing " + ", ".join(_missing)
        + ". Set them in the environment (see docs/operations.md)."
    )

# --- applications --------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "ninja",
    "relance.keystore",
    "relance.accounts",
    "relance.contacts",
    "relance.consent",
    "relance.imports",
    "relance.providers",
    "relance.messaging",
    "relance.reminders",
    "relance.webhooks",
    "relance.privacy",
    "relance.audit",
    "relance.api",
    "relance.backoffice",
    "relance.public",
    "relance.ops",
    "relance.bench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "relance.lib.headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "relance.accounts.middleware.SessionIdleTimeoutMiddleware",
    "relance.accounts.middleware.ActiveOrganisationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "relance.urls"
WSGI_APPLICATION = "relance.wsgi.application"
ASGI_APPLICATION = "relance.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "relance" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "relance.accounts.context_processors.organisation",
            ],
        },
    },
]

# --- authentication (R-64) -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "relance.accounts.backends.EmailBackend",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "backoffice:login"
LOGIN_REDIRECT_URL = "backoffice:home"

# Lockout: counted per hashed login (never the clear e-mail) and truncated IP.
AXES_FAILURE_LIMIT = env_int("RELANCE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("RELANCE_LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "relance.accounts.backends.axes_username"
# authenticate() is called with username=<e-mail>; without this, axes names the credential after
# USERNAME_FIELD ("email_index"), axes_username() finds no login, and the lockout never blocks.
AXES_USERNAME_FORM_FIELD = "username"
AXES_CLIENT_IP_CALLABLE = "relance.accounts.backends.axes_client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "relance.backoffice.views.auth.locked_out"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
# Keyed on the login (hashed) on purpose: an office behind one NAT address must not lock itself out.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

OTP_TOTP_ISSUER = "Relance"
# The address people reach the public pages at (notice links in consent requests, R-28).
RELANCE_PUBLIC_URL = env_str("RELANCE_PUBLIC_URL", "http://127.0.0.1:8000") or "http://127.0.0.1:8000"
# Days a preference link carried in a message stays valid (relance/contacts/links.py).
RELANCE_LINK_DAYS = env_int("RELANCE_LINK_DAYS", 90)
# Origins allowed to embed the public consent form in a frame (?embed=1), space-separated; none by default.
RELANCE_EMBED_ORIGINS = (env_str("RELANCE_EMBED_ORIGINS", "") or "").split()
RELANCE_SECOND_FACTOR_ROLES = {"admin", "dpo"}

SESSION_COOKIE_AGE = env_int("RELANCE_SESSION_MAX_AGE", 8 * 3600)
RELANCE_SESSION_IDLE_SECONDS = env_int("RELANCE_SESSION_IDLE_SECONDS", 30 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "relance.backoffice.views.auth.csrf_failure"

# --- security headers ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = env_int("RELANCE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_SSL_REDIRECT = env_bool("RELANCE_SSL_REDIRECT", False)
# Probes (docs/monitoring.md) talk plain HTTP to the process on its own address: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
# Behind a reverse proxy (docs/operations.md): the client's address is read from X-Forwarded-For
# only on requests coming from one of these addresses (relance/lib/net.py); otherwise REMOTE_ADDR.
RELANCE_TRUSTED_PROXIES = env_list("RELANCE_TRUSTED_PROXIES", [])
RELANCE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

# --- internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
# The project's catalogue, then one per back-office area (relance/backoffice/views/<area>/locale/).
LOCALE_PATHS = [BASE_DIR / "relance" / "locale", *sorted((BASE_DIR / "relance" / "backoffice" / "views").glob("*/locale"))]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- static files --------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if not PRODUCTION:  # collectstatic is a production step; WhiteNoise still wants the folder to exist
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "relance" / "static"]  # the shared stylesheet (relance/static/relance/)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- logging: structured, and never personal data (R-61) -----------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "relance.lib.logs.RedactPersonalData"}},
    "formatters": {"json": {"()": "relance.lib.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]},
    },
    "root": {"handlers": ["stderr"], "level": env_str("RELANCE_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django logs the full request path and query on errors; our filter redacts them.
        "django.request": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- Relance -------------------------------------------------------------------------------
RELANCE_API_KEY_PREFIX = "rlk"
RELANCE_KEY_BACKUP_DAYS = env_int("RELANCE_KEY_BACKUP_DAYS", 7)
# Where personal data is stored, as consent receipts state it (ISO/IEC TS 27560 storage location).
RELANCE_STORAGE_LOCATION = env_str("RELANCE_STORAGE_LOCATION", "EU")

# --- Messaging (issue 4) --------------------------------------------------------------------
# Who sends for an organisation with no provider account of its own or of the platform
# (relance/providers/registry.py). The embedded default prints SMS to the console; production sends
# through provider accounts only ("accounts": without one, a message fails with no_provider_account).
RELANCE_SMS_PROVIDER = env_str("RELANCE_SMS_PROVIDER", "console" if RELANCE_ENV == "embedded" else "accounts")
RELANCE_EMAIL_PROVIDER = env_str("RELANCE_EMAIL_PROVIDER", "console" if RELANCE_ENV == "embedded" else "django")
if RELANCE_ENV == "production" and RELANCE_SMS_PROVIDER in ("", "console", "locmem", "null"):
    _required("RELANCE_SMS_PROVIDER ('accounts': provider accounts; console, locmem and null are for development)", None)
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "no-reply@relance.test")
# The worker: rows claimed per batch, seconds between polls when idle, claim lease before another
# worker may take an abandoned claim over, retry back-off (seconds, doubled each attempt, jittered).
RELANCE_WORKER_BATCH = env_int("RELANCE_WORKER_BATCH", 200)
RELANCE_WORKER_IDLE_SECONDS = env_int("RELANCE_WORKER_IDLE_SECONDS", 2)
RELANCE_WORKER_LEASE_SECONDS = env_int("RELANCE_WORKER_LEASE_SECONDS", 300)
RELANCE_RETRY_BASE_SECONDS = env_int("RELANCE_RETRY_BASE_SECONDS", 30)
RELANCE_MAX_ATTEMPTS = env_int("RELANCE_MAX_ATTEMPTS", 6)
# Provider accounts (relance/providers/): failover circuit and shared rate limits.
RELANCE_CIRCUIT_FAILURES = env_int("RELANCE_CIRCUIT_FAILURES", 3)  # consecutive failed batches open it
RELANCE_CIRCUIT_OPEN_SECONDS = env_int("RELANCE_CIRCUIT_OPEN_SECONDS", 60)  # then one probe batch
RELANCE_RATE_WAIT_SECONDS = env_int("RELANCE_RATE_WAIT_SECONDS", 2)  # a worker waits this long for tokens
RELANCE_REDIS_URL = env_str("RELANCE_REDIS_URL", "")  # rate-limit buckets in Redis instead of the database
# Demo mode: the simulated phone page (/app/phone/) and simulated delivery receipts.
RELANCE_DEMO = env_bool("RELANCE_DEMO", RELANCE_ENV == "embedded")
# The shared secret of the built-in providers' webhooks (console, locmem: the simulated phone and
# tests), sent as X-Relance-Webhook-Secret. Generated into var/ on the embedded default; in
# production, without it, every call to them is refused (403).
RELANCE_WEBHOOK_SECRET = env_secret("RELANCE_WEBHOOK_SECRET") or ""
if not PRODUCTION and not RELANCE_WEBHOOK_SECRET:
    RELANCE_WEBHOOK_SECRET = generated_secret(VAR_DIR / "webhook_secret", new_django_secret,
                                              "the built-in providers' webhooks authenticate with it")
