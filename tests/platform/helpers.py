"""Helpers shared by tests of the platform and of the parts that lean on it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # Port 9 (discard) on loopback: nothing listens there, the connection is refused.
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
}

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process environment of a production instance on SQLite with a local cache, its
    static files collected (`collect_static`) under `tmp_path`."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "MICRO_", "GUNICORN_", "PROMETHEUS_"))
        and key not in ("DATABASE_URL", "REDIS_URL", "OBJECTS_DATABASE_URL")
    }
    return {
        **clean,
        "DJANGO_SETTINGS_MODULE": "micro_platform.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        **extra,
    }
