"""The online check: asking Micro's introspection endpoint (RFC 7662, `/o/introspect/`) whether a
token is still active, for a service that must see a revocation before the token expires.

Offline verification (`TokenVerifier`) cannot see revocations. `Introspector` asks the issuer,
authenticating as a confidential client with HTTP Basic (a service account's client-credentials
client), and keeps each answer for `cache_seconds` so a burst of requests with one token costs
one call, however many threads ask at once. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote, urlencode

from .verifier import MAX_JWKS_BYTES, _NoRedirect, require_secure_url

# The hint under which Micro answers for the gateway's upstream token (and only under it).
UPSTREAM_TOKEN_HINT = "upstream_token"  # noqa: S105 - a type name, not a secret
MAX_TOKEN_BYTES = 8192


class IntrospectionUnavailable(Exception):
    """The endpoint could not answer (network, refusal of this client, a non-JSON body): the
    token is neither active nor inactive, so the caller decides (usually a 503)."""


class Introspector:
    """Asks the issuer whether tokens are active, caching each answer for `cache_seconds`.

    The cache is keyed by a SHA-256 digest of the token (never the token itself), holds at most
    `max_entries` answers and is thread-safe. The URL must be `https://` (or `http://` to a
    loopback IP literal): InsecureUrl otherwise, at construction. Redirects are not followed.
    """

    def __init__(
        self,
        introspection_url: str,
        *,
        client_id: str,
        client_secret: str,
        cache_seconds: float = 5.0,
        timeout: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = require_secure_url(introspection_url, what="the introspection URL")
        # RFC 6749 2.3.1: the id and secret are form-encoded before the Basic encoding.
        credentials = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        self._authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self.max_entries = max_entries
        self.calls = 0  # requests made to the endpoint (tests read it)
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        # The call in flight for each token: threads asking about the same token at once wait
        # for its answer instead of each calling the endpoint.
        self._pending: dict[str, Future[dict[str, Any]]] = {}

    def introspect(self, token: str, *, upstream: bool = False) -> dict[str, Any]:
        """The issuer's RFC 7662 answer for `token` (`{"active": false}` for a token it does not
        vouch for); `upstream` asks about a gateway upstream token. Raises
        IntrospectionUnavailable when the endpoint cannot answer."""
        if not token or len(token) > MAX_TOKEN_BYTES:
            return {"active": False}
        if self.cache_seconds <= 0:  # no answer is reused, not even one still in flight
            return self._ask(token, upstream=upstream)
        key = hashlib.sha256(f"{upstream}:{token}".encode()).hexdigest()
        with self._lock:
            cached = self._cached(key)
            if cached is not None:
                return cached
            pending = self._pending.get(key)
            leader = pending is None
            if pending is None:
                pending = self._pending[key] = Future()
        if not leader:  # another thread is asking about this token: share its answer
            return dict(pending.result())
        return self._ask_for_all(key, pending, token, upstream=upstream)

    def _ask_for_all(
        self, key: str, pending: Future[dict[str, Any]], token: str, *, upstream: bool
    ) -> dict[str, Any]:
        """Asks once for the threads waiting on `pending`; caches only an answer, never an
        error."""
        try:
            answer = self._ask(token, upstream=upstream)
        except BaseException as exc:
            pending.set_exception(exc)  # the waiters fail too; nothing is cached
            raise
        else:
            pending.set_result(answer)
            self._store(key, answer)
            return dict(answer)
        finally:
            with self._lock:
                del self._pending[key]

    def is_active(self, token: str, *, upstream: bool = False) -> bool:
        """Whether the issuer says `token` is active now (within `cache_seconds`)."""
        return self.introspect(token, upstream=upstream).get("active") is True

    def _cached(self, key: str) -> dict[str, Any] | None:
        """The cached answer under `key` while it is fresh; called with the lock held."""
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._cache[key]
            return None
        return dict(entry[1])

    def _store(self, key: str, answer: dict[str, Any]) -> None:
        """Keeps `answer` for `cache_seconds`, an active one never past the token's `exp`."""
        keep = self.cache_seconds
        if answer.get("active") is True and isinstance(answer.get("exp"), int | float):
            keep = min(keep, answer["exp"] - time.time())
        if keep <= 0:
            return
        with self._lock:
            self._cache[key] = (self._clock() + keep, dict(answer))
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)  # the oldest answer goes first

    def _ask(self, token: str, *, upstream: bool) -> dict[str, Any]:
        form = {"token": token}
        if upstream:
            form["token_type_hint"] = UPSTREAM_TOKEN_HINT
        request = urllib.request.Request(  # noqa: S310 - the URL is checked at construction
            self.url,
            data=urlencode(form).encode(),
            headers={
                "Authorization": self._authorization,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        with self._lock:
            self.calls += 1
        try:
            with urllib.request.build_opener(_NoRedirect()).open(
                request, timeout=self.timeout
            ) as response:
                body = response.read(MAX_JWKS_BYTES + 1)
        except OSError as exc:  # URLError, HTTPError (401/403: this client may not ask), timeouts
            raise IntrospectionUnavailable(f"cannot introspect at {self.url}: {exc}") from exc
        try:
            answer = json.loads(body) if len(body) <= MAX_JWKS_BYTES else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise IntrospectionUnavailable(f"{self.url} did not answer as RFC 7662 says")
        return answer
