"""Production: behind TLS, PostgreSQL via DATABASE_URL, optional Redis via REDIS_URL."""

from micro_platform.settings.base import *  # noqa: F403
from micro_platform.settings.base import DEBUG, env_int

if DEBUG:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("production settings refuse DJANGO_DEBUG=true")

SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# The TLS-terminating proxy (nginx, Traefik) sets this header; never trust it from clients.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# `collectstatic` writes hashed, compressed copies that WhiteNoise serves with long caching.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
