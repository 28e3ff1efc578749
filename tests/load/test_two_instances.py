"""Two gunicorn instances on one PostgreSQL database and one Redis (docs/reliability.md).

A mixed concurrent load (sign-ins, refreshes, gateway verifies, user lookups, optimistic
object updates) crossing both instances must see no unexpected answer and lose no update; the
lockout, the per-IP sign-in throttle and revocations must hold on both instances at once.

Runs when DATABASE_URL names PostgreSQL and REDIS_URL is set (CI's PostgreSQL + Redis pass);
the instances get a database of their own, `<DATABASE_URL's name>_load`, created fresh.
`LOAD_TEST_SECONDS` sets the length of the mixed load (default 10; e.g. 300 for a long run);
`LOAD_TEST_REPORT=path` writes the figures as JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import require_component
from tests.load.harness import (
    Cluster,
    Server,
    bearer,
    cluster,
    grant_write,
    gunicorn_available,
    login,
    redis_answers,
    session_from,
    signed_in,
)
from tests.load.mix import run_mix

# MICRO_REVOCATION_POLL_MS (the default 100 ms) plus a request in flight.
REVOCATION_BOUND_S = 0.2

pytestmark = [pytest.mark.live, pytest.mark.postgres]

CLIENTS = 6
WRITERS = 4
OBJECTS = 2
LOCKOUT_THRESHOLD = 10  # the default MICRO_LOCKOUT_THRESHOLD
IP_FAILURE_LIMIT = 12  # MICRO_LOGIN_FAILURES_PER_IP for these instances
CLIENT_USERS = [f"load-client-{i}" for i in range(CLIENTS)]
WRITER_USERS = [f"load-writer-{i}" for i in range(WRITERS)]
OTHER_USERS = ["load-owner", "load-locked", "load-bystander", "load-revoke", "load-ip"]


def load_seconds() -> float:
    return float(os.environ.get("LOAD_TEST_SECONDS", "10"))


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        pytest.skip("the two-instance load test runs with DATABASE_URL=postgres://… and REDIS_URL")
    server = Server.parse(database_url)
    require_component(server.answers(), f"PostgreSQL at {server.host}:{server.port}")
    require_component(redis_answers(redis_url), "Redis at REDIS_URL")
    require_component(gunicorn_available(), "gunicorn")
    with cluster(
        db=server.sibling(f"{server.name}_load"),
        redis_url=redis_url,
        usernames=[*CLIENT_USERS, *WRITER_USERS, *OTHER_USERS],
        workdir=tmp_path_factory.mktemp("load"),
        extra_env={
            "MICRO_LOGIN_FAILURES_PER_IP": str(IP_FAILURE_LIMIT),
            "MICRO_ACCESS_TOKEN_TTL": "3600",  # the writers keep one token for a long run
        },
    ) as running:
        yield running


def shared_objects(running: Cluster) -> list[str]:
    """OBJECTS objects of load-owner that every writer may write."""
    a = running.url(0)
    owner = bearer(signed_in(a, "load-owner")["access_token"])
    ids = []
    for n in range(OBJECTS):
        created = requests.post(
            f"{a}/api/v1/objects",
            json={"name": f"counter-{n}", "value": {"count": 0}},
            headers=owner,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        for writer in WRITER_USERS:
            granted = grant_write(
                running.url(n + 1), owner, created.json()["id"], running.user_ids[writer]
            )
            assert granted.status_code == 201, granted.text
    return ids


def test_mixed_load_has_no_errors_and_loses_no_update(instances: Cluster) -> None:
    object_ids = shared_objects(instances)
    writer_tokens = [
        signed_in(instances.url(i), name)["access_token"] for i, name in enumerate(WRITER_USERS)
    ]
    result = run_mix(
        instances,
        seconds=load_seconds(),
        client_users=CLIENT_USERS,
        lookup_ids=list(instances.user_ids.values()),
        writer_tokens=writer_tokens,
        object_ids=object_ids,
    )
    tally = result.tally
    finals = {}
    for object_id in object_ids:
        final = requests.get(
            f"{instances.url(1)}/api/v1/objects/{object_id}",
            headers=bearer(writer_tokens[0]),
            timeout=30,
        )
        assert final.status_code == 200, final.text
        finals[object_id] = final.json()
    report = {
        "seconds": result.seconds,
        "instances": len(instances.instances),
        "requests": tally.by_kind(),
        "unexpected_errors": tally.error_count,
        "acknowledged_writes": dict(tally.acked),
        "final_versions": {k: v["version"] for k, v in finals.items()},
        "final_counts": {k: v["value"]["count"] for k, v in finals.items()},
    }
    print("\nload:", json.dumps(report, indent=1))
    if path := os.environ.get("LOAD_TEST_REPORT"):
        Path(path).write_text(json.dumps(report, indent=1) + "\n")

    assert tally.error_count == 0, tally.errors
    for kind in ("login", "refresh", "verify", "users", "object_get", "object_patch"):
        assert tally.total(kind) > 0, f"no {kind} request was made"
    for object_id, body in finals.items():
        acked = tally.acked[object_id]
        assert acked > 0
        # Created at version 1; every acknowledged PATCH added one, and only those did.
        assert body["version"] == 1 + acked
        assert body["value"] == {"count": acked}


def test_lockout_on_one_instance_holds_on_the_other(instances: Cluster) -> None:
    session = session_from("127.0.0.21")
    statuses = [
        login(session, instances.url(i), "load-locked", "wrong-password").status_code
        for i in range(LOCKOUT_THRESHOLD)
    ]
    assert set(statuses[:-1]) == {401}, statuses
    # The right password, after 10 failures spread over both instances: locked on both.
    for i in range(2):
        answer = login(session, instances.url(i), "load-locked")
        assert answer.status_code == 429, answer.text
        assert int(answer.headers["Retry-After"]) > 0
    # The lock is the account's, not the address's.
    assert login(session, instances.url(1), "load-bystander").status_code == 200


def test_revocation_on_one_instance_is_refused_by_the_other_within_the_bound(
    instances: Cluster,
) -> None:
    a, b = instances.url(0), instances.url(1)
    tokens = signed_in(a, "load-revoke")
    verify = "/api/v1/auth/verify"
    for url in (b, a):  # every worker has the token in its memo
        for _ in range(4):
            answer = requests.get(url + verify, headers=bearer(tokens["access_token"]), timeout=30)
            assert answer.ok
    revoked = requests.post(
        f"{a}/api/v1/auth/token/revoke", json={"token": tokens["access_token"]}, timeout=30
    )
    assert revoked.status_code == 200
    # Every worker of every instance refuses it once MICRO_REVOCATION_POLL_MS has passed.
    time.sleep(REVOCATION_BOUND_S)
    for url in (b, a):
        for _ in range(4):
            answer = requests.get(url + verify, headers=bearer(tokens["access_token"]), timeout=30)
            assert answer.status_code == 401

    # A refresh token revoked on B is refused by A.
    requests.post(
        f"{b}/api/v1/auth/token/revoke", json={"token": tokens["refresh_token"]}, timeout=30
    ).raise_for_status()
    refreshed = requests.post(
        f"{a}/api/v1/auth/token/refresh",
        json={"refresh_token": tokens["refresh_token"]},
        timeout=30,
    )
    assert refreshed.status_code == 401

    # Reuse of a rotated refresh token on B revokes the family that A rotated it into.
    first = signed_in(b, "load-revoke")
    second = requests.post(
        f"{a}/api/v1/auth/token/refresh", json={"refresh_token": first["refresh_token"]}, timeout=30
    )
    assert second.status_code == 200
    reuse = requests.post(
        f"{b}/api/v1/auth/token/refresh", json={"refresh_token": first["refresh_token"]}, timeout=30
    )
    assert reuse.status_code == 401
    after = requests.post(
        f"{a}/api/v1/auth/token/refresh",
        json={"refresh_token": second.json()["refresh_token"]},
        timeout=30,
    )
    assert after.status_code == 401


def test_ip_throttle_counts_failures_on_both_instances(instances: Cluster) -> None:
    session = session_from("127.0.0.31")
    statuses = [
        login(session, instances.url(i), f"load-nobody-{i}", "wrong-password").status_code
        for i in range(IP_FAILURE_LIMIT)
    ]
    assert set(statuses) == {401}, statuses
    # Counted on both: the address is now throttled on both, even with a right password.
    for i in range(2):
        answer = login(session, instances.url(i), "load-ip")
        assert answer.status_code == 429, answer.text
        assert int(answer.headers["Retry-After"]) > 0
    # Another address is not.
    assert login(session_from("127.0.0.32"), instances.url(0), "load-ip").status_code == 200
