"""The mixed client load against the instances of a cluster, from threads with `requests`.

Client threads each sign in as their own user and then loop over: a refresh (rotation), gateway
verifies, a user lookup by ids, and now and then a new sign-in; request i of a thread goes to
instance i mod n, so every flow crosses instances. Writer threads update shared objects with
the optimistic `version` (GET, then PATCH with the version read; a 409 means another write won,
so read again and retry). Every answer is tallied by kind and status; any other status or a
connection error is an unexpected error, recorded with its detail.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.load.harness import Cluster, bearer, login, session_from

# What each kind of request may answer; anything else is an unexpected error.
EXPECTED = {
    "login": {200},
    "refresh": {200},
    "verify": {200},
    "users": {200},
    "object_get": {200},
    "object_patch": {200, 409},
}
MAX_ERRORS_KEPT = 20


@dataclass
class Tally:
    """Answers by kind and status, unexpected errors, and acknowledged writes per object."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    acked: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, response: requests.Response) -> None:
        with self.lock:
            self.statuses[(kind, response.status_code)] += 1
            if response.status_code not in EXPECTED[kind]:
                self._error(
                    f"{kind} {response.request.method} {response.url} -> "
                    f"{response.status_code}: {response.text[:200]}"
                )

    def failure(self, kind: str, exc: Exception) -> None:
        with self.lock:
            self.statuses[(kind, 0)] += 1
            self._error(f"{kind}: {type(exc).__name__}: {exc}")

    def _error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(text)

    def by_kind(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for (kind, status), count in sorted(self.statuses.items()):
            result.setdefault(kind, {})[str(status) if status else "connection error"] = count
        return result

    def total(self, kind: str) -> int:
        return sum(n for (k, _), n in self.statuses.items() if k == kind)


def _call(
    tally: Tally, kind: str, send: Callable[..., requests.Response], *args: Any, **kwargs: Any
) -> requests.Response | None:
    try:
        response = send(*args, timeout=30, **kwargs)
    except requests.RequestException as exc:
        tally.failure(kind, exc)
        return None
    tally.record(kind, response)
    return response


def client_loop(
    cluster: Cluster, username: str, lookup_ids: list[str], tally: Tally, stop: threading.Event
) -> None:
    session = session_from()
    rng = random.Random(username)
    turn = rng.randrange(len(cluster.instances))

    def next_url() -> str:
        nonlocal turn
        turn += 1
        return cluster.url(turn)

    response = _call(tally, "login", login, session, next_url(), username)
    if response is None or response.status_code != 200:
        return
    tokens = response.json()
    while not stop.is_set():
        refresh = {"refresh_token": tokens["refresh_token"]}
        url = f"{next_url()}/api/v1/auth/token/refresh"
        refreshed = _call(tally, "refresh", session.post, url, json=refresh)
        if refreshed is None or refreshed.status_code != 200:
            return  # the family is gone: carrying on would only count its refusals
        tokens = refreshed.json()
        headers = bearer(tokens["access_token"])
        for _ in range(4):
            url = f"{next_url()}/api/v1/auth/verify"
            _call(tally, "verify", session.get, url, headers=headers)
        ids = ",".join(rng.sample(lookup_ids, min(10, len(lookup_ids))))
        url = f"{next_url()}/api/v1/users"
        _call(tally, "users", session.get, url, params={"ids": ids}, headers=headers)
        if rng.random() < 0.2:  # a sign-in costs an Argon2id hash: fewer of them
            again = _call(tally, "login", login, session, next_url(), username)
            if again is not None and again.status_code == 200:
                tokens = again.json()


def writer_loop(
    cluster: Cluster, token: str, object_ids: list[str], tally: Tally, stop: threading.Event
) -> None:
    """Read-modify-write of a shared counter: `count + 1` with the version it was read at."""
    session = session_from()
    headers = bearer(token)
    rng = random.Random(token)
    turn = rng.randrange(len(cluster.instances))
    while not stop.is_set():
        object_id = rng.choice(object_ids)
        turn += 1
        url = f"{cluster.url(turn)}/api/v1/objects/{object_id}"
        current = _call(tally, "object_get", session.get, url, headers=headers)
        if current is None or current.status_code != 200:
            continue
        body = current.json()
        turn += 1
        url = f"{cluster.url(turn)}/api/v1/objects/{object_id}"
        change = {"version": body["version"], "value": {"count": body["value"]["count"] + 1}}
        patched = _call(tally, "object_patch", session.patch, url, json=change, headers=headers)
        if patched is not None and patched.status_code == 200:
            with tally.lock:
                tally.acked[object_id] += 1


@dataclass(frozen=True)
class MixResult:
    seconds: float
    tally: Tally


def run_mix(
    cluster: Cluster,
    *,
    seconds: float,
    client_users: list[str],
    lookup_ids: list[str],
    writer_tokens: list[str],
    object_ids: list[str],
) -> MixResult:
    tally = Tally()
    stop = threading.Event()
    threads = [
        threading.Thread(target=client_loop, args=(cluster, name, lookup_ids, tally, stop))
        for name in client_users
    ]
    threads += [
        threading.Thread(target=writer_loop, args=(cluster, token, object_ids, tally, stop))
        for token in writer_tokens
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    return MixResult(round(time.monotonic() - started, 1), tally)
