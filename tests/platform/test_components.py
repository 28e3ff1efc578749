"""The suite runs against the components it is told to use (CI: PostgreSQL and Redis)."""

import os

import pytest
from django.core.cache import cache
from django.db import connection

from tests.conftest import require_component


def test_database_is_the_one_database_url_names(db: object) -> None:
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected


def test_redis_named_by_redis_url_answers() -> None:
    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is not set: the suite uses the in-process cache")
    from django_redis import get_redis_connection

    try:
        answered = bool(get_redis_connection("default").ping())
    except Exception:  # noqa: BLE001 - any failure means Redis is missing
        answered = False
    require_component(answered, "Redis at REDIS_URL")
    cache.set("components:probe", "ok", timeout=5)
    assert cache.get("components:probe") == "ok"
