"""The database cache used without Redis: Django's, with a cull that spares protected keys.

When the table is full, Django's cull deletes the expired entries and then the lowest-keyed
fraction of the rest (`CULL_FREQUENCY`). The revocation list lives in this cache and its keys
sort lowest, so a plain cull would drop revocations while the "list loaded" marker stays, and
revoked tokens would be accepted again until the next reload. Entries whose keys start with one
of the `CULL_PROTECTED_PREFIXES` given in the cache's settings are never culled: they are
bounded by their own lifetimes (a revocation lives as long as the token it revokes), and the
cull is one DELETE, so no reader ever sees a half-culled list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.cache.backends.db import DatabaseCache
from django.db import connections


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class ProtectedCullDatabaseCache(DatabaseCache):
    """Django's DatabaseCache whose cull never deletes keys under CULL_PROTECTED_PREFIXES."""

    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self._protected = tuple(params.get("CULL_PROTECTED_PREFIXES", ()))

    def _cull(self, db: str, cursor: Any, now: datetime, num: int) -> None:
        if not self._protected or self._cull_frequency == 0:
            super()._cull(db, cursor, now, num)  # type: ignore[misc]  # private in the stubs
            return
        ops = connections[db].ops
        table = ops.quote_name(self._table)  # type: ignore[attr-defined]  # not in the stubs
        key = ops.quote_name("cache_key")
        expires = ops.quote_name("expires")
        cursor.execute(
            f"DELETE FROM {table} WHERE {expires} < %s",  # noqa: S608 - quoted names only
            [ops.adapt_datetimefield_value(now)],
        )
        remaining = num - cursor.rowcount
        if remaining <= self._max_entries:
            return
        spared = " AND ".join(f"{key} NOT LIKE %s ESCAPE '\\'" for _ in self._protected)
        patterns = [_like_prefix(self.make_key(prefix)) for prefix in self._protected]
        cursor.execute(
            f"DELETE FROM {table} WHERE {key} IN ("  # noqa: S608 - quoted names only
            f"SELECT {key} FROM {table} WHERE {spared} ORDER BY {key} LIMIT %s)",
            [*patterns, remaining // self._cull_frequency],
        )
