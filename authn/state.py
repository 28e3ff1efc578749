"""The credential state generation: how every process learns that a credential may have become
less valid, and the per-process memo of credential checks it keeps valid.

One shared counter in the cache is bumped after the commit of every change that can make a
credential less valid: a revocation (authn.tokens.revocation) and every change to an API key,
a user or a user's groups (authn.api_keys.cache). Each process keeps the answers it read from
the shared cache (revocation lookups, absent keys included, and current API-key entries) in a
bounded memo, and the public views of the users the gateway's fast path read in another,
valid while the counter is unchanged. The counter is read at most every
MICRO_REVOCATION_POLL_MS milliseconds, so a change made by another process or instance is
seen within that bound; the process that made it forgets its own memo at the change and again
at the commit, so it sees the change at once. With MICRO_REVOCATION_POLL_MS = 0 there is no
memo: every check reads the shared cache.

A poll that cannot read the counter raises DependencyError (a 503): past one poll interval
nothing is answered from memory that the shared cache did not confirm. A counter missing from
the cache (a Redis restart) is created afresh, at the current time in nanoseconds, so it never
comes back at a value a memo holds, and the memo is cleared: the next revocation check finds
the list's "loaded" marker gone too and reloads the list from the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from micro_platform.errors import DependencyError

logger = logging.getLogger("micro.authn")

STATE_GENERATION_KEY = "authn:state-gen"
# Entries kept per process; past it the oldest go. A few hundred bytes each.
MEMO_SIZE = 50_000
# The longest an answer is kept, whatever the generation says: a bump lost to a cache outage
# at the moment of the change (the change itself committed) is bounded by this instead of by
# the next unrelated change.
MEMO_MAX_AGE_SECONDS = 60

# What `lookup` returns for a key the memo has no answer for.
MISSING: Any = object()


class CredentialMemo:
    """Per-process memo of shared-cache answers, valid while the state generation is unchanged.

    Guarantees: an answer is served from memory only if the generation was confirmed within
    the poll interval; an answer fetched before a change is never kept after the memo learnt
    of the change (entries are stored only under the epoch they were fetched in).
    """

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Any, float | None]] = OrderedDict()
        self._size = size
        self._generation: int | None = None
        self._checked_at: float | None = None
        # Changes whenever the entries are dropped; a fetch stores its answer only under the
        # epoch it started in.
        self._epoch = 0

    @staticmethod
    def _interval() -> float:
        return settings.MICRO_REVOCATION_POLL_MS / 1000

    def epoch(self) -> int | None:
        """The epoch to tag a fetch with (read before the fetch), after polling the shared
        generation when the interval has passed; None when there is no memo (poll 0).
        Raises DependencyError when the generation cannot be read."""
        interval = self._interval()
        if interval <= 0:
            return None
        now = time.monotonic()
        checked_at = self._checked_at
        if checked_at is not None and now - checked_at < interval:
            return self._epoch
        generation = self._read_generation()
        with self._lock:
            if generation != self._generation:
                self._drop()
                self._generation = generation
            self._checked_at = now
            return self._epoch

    def _read_generation(self) -> int:
        try:
            found = cache.get(STATE_GENERATION_KEY)
            if found is None:
                cache.add(STATE_GENERATION_KEY, time.time_ns(), timeout=None)
                found = cache.get(STATE_GENERATION_KEY)
            if found is None:
                raise DependencyError("the credential state generation cannot be stored")
            return int(found)
        except Exception as exc:
            self.forget()  # nothing unconfirmed is answered after the cache comes back
            if isinstance(exc, DependencyError):
                raise
            raise DependencyError("the credential state generation cannot be read") from exc

    def lookup(self, key: Hashable) -> Any:
        """The remembered answer for `key`, or MISSING (also once its own expiry passed)."""
        with self._lock:
            found = self._entries.get(key)
        if found is None:
            return MISSING
        value, expires = found
        if expires is not None and expires <= time.time():
            return MISSING
        return value

    def store(
        self, epoch: int | None, key: Hashable, value: Any, *, expires: float | None = None
    ) -> None:
        """Remembers `value` (until the wall-clock time `expires`, and MEMO_MAX_AGE_SECONDS at
        most) when the memo has not been cleared since `epoch` was read; otherwise the answer
        may predate a change."""
        if epoch is None:
            return
        with self._lock:
            if epoch != self._epoch:
                return
            longest = time.time() + MEMO_MAX_AGE_SECONDS
            self._entries[key] = (value, longest if expires is None else min(expires, longest))
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def _drop(self) -> None:
        self._entries.clear()
        self._epoch += 1

    def forget(self) -> None:
        """Drops every answer and forces a poll on the next check."""
        with self._lock:
            self._drop()
            self._checked_at = None


memo = CredentialMemo()
# The users the gateway's fast path reads (authn/gateway/fast_path.py): their public views,
# by id. Every save or deletion of a user bumps the generation after its commit, and makes
# this process forget at once (authn.api_keys.cache.user_changed), so a renamed, deactivated
# or deleted user is seen within the same bound as a revocation.
USER_MEMO_SIZE = 10_000
user_memo = CredentialMemo(size=USER_MEMO_SIZE)
_MEMOS = (memo, user_memo)


def forget_here() -> None:
    """This process drops every remembered answer now (the others at the next bump)."""
    for each in _MEMOS:
        each.forget()


def _bump() -> None:
    forget_here()
    try:
        cache.incr(STATE_GENERATION_KEY)
    except ValueError:  # missing: start at a value no earlier counter can have had
        cache.set(STATE_GENERATION_KEY, time.time_ns(), timeout=None)


def state_bump_now() -> None:
    """Tells every process now that credentials may be less valid (call it after a commit)."""
    _bump()


def state_changed(*, using: str | None = None) -> None:
    """A credential may be less valid once the current transaction of database `using`
    commits: this process forgets its memo now, and every process within the poll interval
    of the commit."""
    forget_here()
    transaction.on_commit(_bump, using=using)
