"""The shared cache behind API-key authentication: a hit needs no database query (P2).

An entry, keyed by the key's prefix, holds what authenticating the key needs: the secret's
hash, the key's scopes, expiry and revocation, and its owner's state (active, kind, groups,
held scopes). Entries are never edited in place; they are stamped with two generation
counters read *before* the database rows they were built from:

- a per-user generation, bumped after any commit that changes a user's keys, scopes,
  memberships or activation (the services and the model signals in authn.signals);
- a global generation, bumped after any commit that changes a group's scopes.

Every bump of either counter also bumps the credential state generation (authn/state.py), so
the entries each process keeps in memory are dropped everywhere within
MICRO_REVOCATION_POLL_MS. An entry whose stamps differ from the current counters is rebuilt
from the database. Because
the counters are read before the rows and bumped after the commit, a rebuild racing a change
can only store an entry that is already outdated, never a stale one that looks current.
Counters start at the current time in nanoseconds, so a counter lost with the cache (a Redis
restart) never comes back at a value an old entry carries.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction

from authn import state

GLOBAL_GENERATION_KEY = "authn:apikey-gen:global"
# Defence in depth for changes made outside the services and signals (raw SQL): an entry is
# rebuilt at least once a minute, which is also the `last_used_at` write interval.
ENTRY_TTL_SECONDS = 60


def entry_key(prefix: str) -> str:
    return f"authn:apikey:{prefix}"


def user_generation_key(user_id: uuid.UUID | str) -> str:
    return f"authn:apikey-gen:user:{user_id}"


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # missing: start at a value no earlier counter can have had
        cache.set(key, time.time_ns(), timeout=None)
    state.state_bump_now()


def _current(key: str, found: Any) -> int:
    if found is not None:
        return int(found)
    cache.add(key, time.time_ns(), timeout=None)
    return int(cache.get(key))


def generations_read(*, user_id: uuid.UUID | str) -> tuple[int, int]:
    """(global, user) counters now, created when missing; read before loading rows."""
    global_key, user_key = GLOBAL_GENERATION_KEY, user_generation_key(user_id)
    found = cache.get_many([global_key, user_key])
    return _current(global_key, found.get(global_key)), _current(user_key, found.get(user_key))


def user_changed(*, user_id: uuid.UUID | str) -> None:
    """Invalidates the cached entries of the user's keys once the current transaction commits;
    this process forgets what it remembers of users and keys at once."""
    state.forget_here()
    transaction.on_commit(lambda: _bump(user_generation_key(user_id)))


def groups_changed(*, using: str | None = None) -> None:
    """Invalidates every cached entry once the current transaction of database `using` (the
    one the change is written to: roles may live in the grants database) commits."""
    transaction.on_commit(lambda: _bump(GLOBAL_GENERATION_KEY), using=using)


# prefix -> owner id, per process. A key's owner never changes, so this is a fact, not
# state to invalidate: it lets a hit fetch the entry and both counters in one round trip.
_owners: dict[str, str] = {}
_OWNERS_MAX = 100_000


def entry_get(*, prefix: str) -> dict[str, Any] | None:
    """The cached entry when it is current, else None (one cache round trip once the
    process has seen the key, two before)."""
    key = entry_key(prefix)
    wanted = [key, GLOBAL_GENERATION_KEY]
    owner_id = _owners.get(prefix)
    if owner_id is not None:
        wanted.append(user_generation_key(owner_id))
    found = cache.get_many(wanted)
    entry = found.get(key)
    if not isinstance(entry, dict) or entry.get("global_gen") != found.get(GLOBAL_GENERATION_KEY):
        return None
    if entry["owner_id"] != owner_id:
        user_gen = cache.get(user_generation_key(entry["owner_id"]))
        if len(_owners) >= _OWNERS_MAX:
            _owners.clear()
        _owners[prefix] = entry["owner_id"]
    else:
        user_gen = found.get(user_generation_key(owner_id))
    return entry if entry.get("user_gen") == user_gen else None


def entry_put(*, prefix: str, entry: dict[str, Any]) -> None:
    # When the shared entry lapses: a process's memo keeps it no longer, so the entry is still
    # rebuilt (and `last_used_at` written) once a minute.
    entry["cached_until"] = time.time() + ENTRY_TTL_SECONDS
    cache.set(entry_key(prefix), entry, timeout=ENTRY_TTL_SECONDS)


def entry_expiry(entry: dict[str, Any]) -> float:
    """When a process stops answering from its memo of `entry`: when the shared entry lapses."""
    cached_until = entry.get("cached_until")
    if isinstance(cached_until, int | float):
        return float(cached_until)
    return time.time() + ENTRY_TTL_SECONDS  # written before entries carried it
