"""Liveness and readiness probes (plain Django views: no DRF, no authentication)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from micro_platform.errors import DependencyError

logger = logging.getLogger("micro.health")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process serves requests."""
    return JsonResponse({"status": "ok"})


def _check_databases() -> dict[str, str]:
    results = {}
    for alias in connections:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
            results[f"database:{alias}"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            logger.warning("readyz database %s failed: %s", alias, type(exc).__name__)
            results[f"database:{alias}"] = "unavailable"
    return results


def _check_cache() -> str:
    try:
        cache.set("readyz:probe", "1", timeout=5)
        return "ok" if cache.get("readyz:probe") == "1" else "unavailable"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        logger.warning("readyz cache failed: %s", type(exc).__name__)
        return "unavailable"


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every database and the shared cache answer, else 503."""
    checks = _check_databases()
    checks["cache"] = _check_cache()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


class _DatabaseLiveness:
    """Per-process memo of the last time the main database answered.

    Answers that need no query (a gateway verify of a JWT, or of a cached API key) must still
    be denied while the database is down (fail closed): they check here, which costs one
    `SELECT 1` per process at most every MICRO_DATABASE_CHECK_SECONDS.
    """

    def __init__(self) -> None:
        # One float, written whole: threads racing past an expired value each run the check.
        self._ok_until = 0.0

    def require(self) -> None:
        if time.monotonic() < self._ok_until:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            raise DependencyError("the database is unavailable") from exc
        self._ok_until = time.monotonic() + settings.MICRO_DATABASE_CHECK_SECONDS

    def forget(self) -> None:
        self._ok_until = 0.0


database_liveness = _DatabaseLiveness()
