"""Fixed one-hour windows for account flows that must not become oracles or mail floods.

Counts live in the atomic counters of micro_platform.counters, shared by every worker and
instance; subjects (addresses, client IPs, user ids) are stored only as digests.
"""

from __future__ import annotations

import hashlib

from micro_platform.counters import counter_incr

WINDOW_SECONDS = 3600


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests.")
        self.retry_after = retry_after


def over_limit(bucket: str, subject: str, *, limit: int) -> bool:
    """Counts one hit in a fixed window shared by every instance; True past `limit`."""
    digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
    return counter_incr(f"email_flows:{bucket}:{digest}", WINDOW_SECONDS) > limit


def throttle(bucket: str, subject: str | None, *, limit: int) -> None:
    """Raises RateLimited once `subject` (when known) passes `limit` hits in the window."""
    if subject and over_limit(bucket, subject, limit=limit):
        raise RateLimited(retry_after=WINDOW_SECONDS)
