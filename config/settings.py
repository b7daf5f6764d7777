"""asnwatch settings. Every value comes from the environment (DESIGN.md section 4).

The embedded default needs nothing: SQLite under var/, a task queue in files
under var/, a secret key generated once into var/. A bad value stops start-up with
a message naming the variable.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_cron,
    env_datetime,
    env_dir,
    env_file,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ASNWATCH_VAR_DIR", str(BASE_DIR / "var")))


def _secret_key() -> str:
    configured = env_str("SECRET_KEY")
    if configured:
        if len(configured) < 50:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long")
        return configured
    # Embedded default: one random key per installation, kept under var/.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = _secret_key()
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

_database_url = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'asnwatch.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
except Exception as error:  # dj_database_url raises plain exceptions for unknown schemes
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;"}
    # SQLite builds a covering index without its INCLUDE columns (models.W040 on
    # event_direct_lambda_invoke): the index still finds the rows and reads the AS
    # number from the table instead, which the embedded default's volumes never notice.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ingest",
    "triage",
    "triage.notify",
    "triage.api",
    "triage.users",
    "triage.requests",
    "signin",
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "triage.users.middleware.TimeZoneMiddleware",
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
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every sign-in form, the admin's too, goes through the throttle (signin/, README "Sign-in").
AUTHENTICATION_BACKENDS = ["signin.backends.ThrottledModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failures counted within the window, from each counter's first failure: one user name
# from one address; any user names from one address; one user name from all addresses
# (past that limit only addresses without failures of their own are checked).
LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15, minimum=1)
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
LOGIN_ACCOUNT_FAILURE_LIMIT = env_int("LOGIN_ACCOUNT_FAILURE_LIMIT", 10, minimum=1)
# The JSON API: requests per token per minute (0: no limit).
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600, minimum=0)
# How often an open alert list asks whether new alerts arrived.
ALERT_LIST_POLL_SECONDS = env_int("ALERT_LIST_POLL_SECONDS", 30, minimum=1)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security. HSTS and the HTTP→HTTPS redirect belong to the TLS-terminating
# reverse proxy (README, "Production"); cookies are Secure unless the app is
# served over plain HTTP on loopback (make run sets SECURE_COOKIES=false).
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Behind the proxy, X-Forwarded-Proto and the last X-Forwarded-For entry are the proxy's.
BEHIND_HTTPS_PROXY = env_bool("BEHIND_HTTPS_PROXY", False)
if BEHIND_HTTPS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# CloudTrail sources and enrichment (DESIGN.md sections 2 and 4).
GEOIP_ASN_DB = env_file("GEOIP_ASN_DB")
GEOIP_CITY_DB = env_file("GEOIP_CITY_DB")
CLOUDTRAIL_S3_BUCKET = env_str("CLOUDTRAIL_S3_BUCKET")
CLOUDTRAIL_S3_PREFIX = env_str("CLOUDTRAIL_S3_PREFIX", "")
CLOUDTRAIL_ACCOUNTS = env_list("CLOUDTRAIL_ACCOUNTS")
CLOUDTRAIL_REGIONS = env_list("CLOUDTRAIL_REGIONS")
CLOUDTRAIL_START = env_datetime("CLOUDTRAIL_START")
CLOUDTRAIL_SQS_QUEUE_URL = env_str("CLOUDTRAIL_SQS_QUEUE_URL")
CLOUDTRAIL_INBOX_DIR = env_dir("CLOUDTRAIL_INBOX_DIR")
# The most bytes one log file may hold once decompressed: CloudTrail's own are
# at most tens of MB. A larger file (a gzip bomb) is refused without being read
# whole; reading one file may take a few times this much memory.
INGEST_MAX_FILE_BYTES = env_int("INGEST_MAX_FILE_BYTES", 256 * 2**20, minimum=2**20)

# Detection.
DETECTION_BASELINE_START = env_datetime("DETECTION_BASELINE_START")
# The most alerts one run opens (the rule's max_signals); the next run continues.
DETECTION_MAX_ALERTS_PER_RUN = env_int("DETECTION_MAX_ALERTS_PER_RUN", 100, minimum=1)
HISTORY_WINDOW = timedelta(days=10)
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 30, minimum=HISTORY_WINDOW.days)
# An exclusion hiding more than this share (%) of the rule's candidates of the
# last 30 days is saved only when confirmed (triage.allowlist.services); 100: never asked.
EXCLUSION_CONFIRM_SHARE_PERCENT = env_int("EXCLUSION_CONFIRM_SHARE_PERCENT", 20, minimum=0)

# Weekly review: the digest's schedule (minute hour day-of-month month day-of-week,
# as cron writes it, in UTC), its recipients, and the address its link points at.
REVIEW_RECIPIENTS = env_list("REVIEW_RECIPIENTS")
REVIEW_SCHEDULE = env_cron("REVIEW_SCHEDULE", "0 8 * * mon")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# E-mail: SMTP when EMAIL_HOST is set, else messages are written to the console.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 30
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "asnwatch@localhost")
# Webhooks: a PEM file of the CAs their certificates are checked against, for
# receivers whose certificate a private CA issued; unset, the system's.
WEBHOOK_CA_BUNDLE = env_file("WEBHOOK_CA_BUNDLE")

# Live CloudTrail polling (README, "Live CloudTrail").
CLOUDTRAIL_S3_WINDOW_DAYS = env_int("CLOUDTRAIL_S3_WINDOW_DAYS", 2, minimum=1)
CLOUDTRAIL_SQS_WAIT_SECONDS = env_int("CLOUDTRAIL_SQS_WAIT_SECONDS", 20, minimum=0)
CLOUDTRAIL_SQS_VISIBILITY_TIMEOUT = env_int("CLOUDTRAIL_SQS_VISIBILITY_TIMEOUT", 300, minimum=2)
CLOUDTRAIL_SQS_MAX_RECEIVES = env_int("CLOUDTRAIL_SQS_MAX_RECEIVES", 5, minimum=1)
# botocore's standard retry mode: throttling, 5xx and connection errors, with backoff.
AWS_MAX_ATTEMPTS = env_int("AWS_MAX_ATTEMPTS", 5, minimum=1)
# A monitoring system reads /sources.json with "Authorization: Bearer <token>".
MONITORING_TOKEN = env_str("MONITORING_TOKEN")
# What else the Sources page and /sources.json report (ingest/health.py).
HEALTH_CHECKS = ["triage.notify.health.failing_destinations"]

# Tasks (config/celery.py). The embedded default needs no broker server: the
# worker and the scheduler exchange messages through files under var/broker.
# Production uses Redis (README, "Production").
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
