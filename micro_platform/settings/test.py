"""Test settings: fast hasher, in-process cache, database from DATABASE_URL (SQLite by default)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")

from micro_platform.settings.base import *  # noqa: F403
from micro_platform.settings.base import REDIS_URL

# Argon2id at OWASP cost is exercised by its own tests; everything else uses a fast hasher.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "accounts.hashers.OwaspArgon2idHasher",
    "authn.oauth.hashers.ClientSecretHasher",
]

if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MICRO_EMAIL_SEND_INLINE = True  # tests read mail.outbox right after the commit
MICRO_SIGNING_KEY_REFRESH_SECONDS = 1
MICRO_AUDIT_STRICT = True  # an audit detail off its allow-list fails the test that made it
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
