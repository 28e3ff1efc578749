"""The database cache used without Redis: Django's, with a cull that the revocation list sees.

When the table is full, Django's cull first deletes expired entries and then the lowest-keyed
fraction of the rest (`CULL_FREQUENCY`). A culled revocation must not go unnoticed, so a cull
also deletes the revocation list's sentinel (and the sentinel is not stored by a write that
culled), so the next check reloads the whole list from the database
(authn.services.revocation). Lockout locks are restored from their counters, which live in
their own table, and API-key entries are refetched on a miss.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache


def _sentinel() -> str:
    from authn.services.revocation import SENTINEL_KEY  # the cache loads after the apps

    return SENTINEL_KEY


class RevocationAwareDatabaseCache(DatabaseCache):
    """Django's DatabaseCache after whose every cull the revocation list's sentinel is absent."""

    _culled = False

    def _cull(self, db: str, cursor: Any, now: datetime, num: int) -> None:
        super()._cull(db, cursor, now, num)  # type: ignore[misc]  # private in the stubs
        self._culled = True

    def _base_set(self, mode: str, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        self._culled = False
        stored: bool = super()._base_set(mode, key, value, timeout)  # type: ignore[misc]
        if self._culled:
            self._culled = False
            # The write that culled may be the sentinel's own, after the revocations it vouches
            # for were culled: drop it either way.
            self.delete(_sentinel())
        return stored
