"""P7 (`POST /api/v1/access/check`) and P8 (`GET /api/v1/objects`) at two data sizes.

Two roles:
- imported by `bench/run.py`: `run_objects(...)` seeds each size, measures it in a
  subprocess with the size's Django environment, and prints and returns the results;
- run as a script in that subprocess (`--seed` or `--measure`, one JSON line on stdout).

Data (set-based SQL, `INSERT … SELECT generate_series`, indexes rebuilt after the load): N
objects, 5 grants per object (the owner: read+write+admin; three other users, one of them
with write; one of 1 000 groups), a "hot" user (`bench-login-0`) holding read on every
(N / hot)-th object, and a "grouped" user (`bench-login-7`) holding no grant of their own but
member of 10 of those groups, which reach 1 % of the objects. Full: N = 1 000 000 (5 010 000
grants, hot = 10 000, the grouped user reaches 10 000) and the 10× smaller set (100 000 objects,
501 000 grants, hot = 1 000, grouped 1 000): each user's share of objects is the same at both
sizes, so the growth ratio isolates the effect of the table sizes.

Scenarios: P7 (the hot user's access checks), P8 (the hot user's first page) and P8g (the
grouped user's first page: the list filter with the groups' grants).

Latency is measured server-side, in-process: Django's test client through the whole stack
(middleware, bearer authentication, view, database) without HTTP or a load generator, so the
figures are what a request costs the server. p50/p95 over many sequential requests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GRANTS_PER_OBJECT = 5
OWNERS = 100_000
GROUPS = 1_000
HOT_USERNAME = "bench-login-0"
GROUPED_USERNAME = "bench-login-7"
GROUPED_MEMBERSHIPS = 10
TARGETS = {
    "P7": {"p95_ms": 5.0, "queries": 1},
    "P8": {"p95_ms": 20.0, "queries": 1},
    "P8g": {"p95_ms": 20.0, "queries": 1},
}
GROWTH_MAX = 1.5
PAGE_SIZE = 50


@dataclass(frozen=True)
class ObjectSizes:
    large_objects: int
    large_hot: int
    p7_requests: int
    p8_requests: int

    def for_label(self, label: str) -> tuple[int, int]:
        if label == "large":
            return self.large_objects, self.large_hot
        return self.large_objects // 10, self.large_hot // 10


FULL = ObjectSizes(large_objects=1_000_000, large_hot=10_000, p7_requests=2000, p8_requests=500)
SMOKE = ObjectSizes(large_objects=20_000, large_hot=1_000, p7_requests=100, p8_requests=50)


# --- Orchestration (imported by bench/run.py) ---------------------------------------------------


def _run(args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"objects bench {args[0]} failed:\n{(proc.stderr + proc.stdout)[-3000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return dict(json.loads(lines[-1]))


def run_objects(
    sizes: Sequence[tuple[str, dict[str, str]]], *, smoke: bool, password: str
) -> dict[str, Any]:
    """Seeds and measures each (label, env) size; returns the report (errors included)."""
    plan = SMOKE if smoke else FULL
    report: dict[str, Any] = {"sizes": {}, "errors": []}
    for label, env in sizes:
        objects, hot = plan.for_label(label)
        try:
            print(
                f"[{label}] objects bench: {objects:,} objects, hot user {hot:,} grants", flush=True
            )
            seed = _run(["--seed", f"--objects={objects}", f"--hot={hot}"], env)
            print(f"  seeded in {seed['seconds']} s ({seed['grants']:,} grants)", flush=True)
            measured = _run(
                [
                    "--measure",
                    f"--password={password}",
                    f"--p7={plan.p7_requests}",
                    f"--p8={plan.p8_requests}",
                ],
                env,
            )
            report["sizes"][label] = {"seed": seed, **measured}
        except (RuntimeError, ValueError, KeyError) as exc:
            report["errors"].append(f"[{label}] {exc}")
    report["checks"] = checks(report["sizes"])
    print_objects_report(report)
    return report


def checks(sizes: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    large, small = sizes.get("large"), sizes.get("small")
    for key, target in TARGETS.items():
        if large is None:
            continue
        result = large[key]
        found.append(_check(f"{key} p95 ms", result["p95_ms"], f"<= {target['p95_ms']}"))
        found.append(_check(f"{key} queries", result["queries"], f"== {target['queries']}"))
        found.append(_check(f"{key} no seq scan", not result["seq_scan"], "== True"))
        if small is not None and small[key]["p50_ms"]:
            growth = result["p50_ms"] / small[key]["p50_ms"]
            found.append(_check(f"{key} growth p50 large/small", growth, f"<= {GROWTH_MAX}"))
    return found


def _check(name: str, value: Any, target: str) -> dict[str, Any]:
    op, bound = target.split(" ", 1)
    limit = True if bound == "True" else float(bound)
    met = {"<=": value <= limit, "==": value == limit}[op]
    return {"name": name, "value": value, "target": target, "met": bool(met)}


def print_objects_report(report: dict[str, Any]) -> None:
    print()
    print("| size | scenario | requests | p50 ms | p95 ms | SQL ms (1 request) | queries | plan |")
    print("|---|---|---|---|---|---|---|---|")
    for label, size in report["sizes"].items():
        for key in TARGETS:
            row = size[key]
            print(
                f"| {label} ({size['seed']['objects']:,} objects) | {key} | {row['requests']} "
                f"| {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {row['db_ms']:.2f} "
                f"| {row['queries']} | {', '.join(row['scans'])} |"
            )
    for item in report["checks"]:
        value = item["value"]
        shown = f"{value:.2f}" if isinstance(value, float) else value
        verdict = "met" if item["met"] else "MISSED"
        print(f"  {item['name']}: {shown} (target {item['target']}): {verdict}")
    for label, size in report["sizes"].items():
        for key in TARGETS:
            print(f"\n[{label}] {key} plan:\n" + "\n".join(size[key]["plan"]))
    for error in report["errors"]:
        print(f"error: {error}")


# --- In the Django subprocess: seeding ----------------------------------------------------------

SEED_MARKER = "bench_objects_seed"


@contextmanager
def indexes_dropped(cursor: Any, table: str) -> Iterator[None]:
    """Drops a table's indexes and unique/primary constraints, and rebuilds them after the load:
    one sorted build per index is far cheaper than millions of random insertions."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    yield
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        cursor.execute(definition)


OBJECTS_SQL = """
INSERT INTO objects_object (id, name, value, owner_id, version, created_at, updated_at)
SELECT id, 'object ' || n, jsonb_build_object('n', n), md5('owner' || mod(n, {owners}))::uuid, 1,
       now() - make_interval(secs => n), now() - make_interval(secs => n)
FROM bench_ids
"""

GRANTS_SQL = """
INSERT INTO permissions_grant (id, object_type, object_id, subject_type, subject_id,
                               read, write, admin, granted_by, created_at, updated_at)
SELECT gen_random_uuid(), 'object', b.id,
       CASE WHEN k = 4 THEN 'group' ELSE 'user' END,
       CASE WHEN k = 0 THEN md5('owner' || mod(b.n, {owners}))::uuid
            WHEN k = 4 THEN md5('group' || mod(b.n, {groups}))::uuid
            ELSE md5('user' || b.n || '-' || k)::uuid END,
       true, k <= 1, k = 0, NULL, now(), now()
FROM bench_ids b CROSS JOIN generate_series(0, {last}) k
"""

HOT_SQL = """
INSERT INTO permissions_grant (id, object_type, object_id, subject_type, subject_id,
                               read, write, admin, granted_by, created_at, updated_at)
SELECT gen_random_uuid(), 'object', id, 'user', %s, true, false, false, NULL, now(), now()
FROM bench_ids WHERE n %% %s = 0
"""


def seed(objects: int, hot: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from accounts.models import User

    hot_user = str(User.objects.get(username=HOT_USERNAME).pk)
    wanted = [objects, hot, hot_user]
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {SEED_MARKER} (objects bigint, hot bigint, hot_user text)"
        )
        cursor.execute(f"SELECT objects, hot, hot_user FROM {SEED_MARKER}")  # noqa: S608 - a constant
        if [list(row) for row in cursor.fetchall()] != [wanted]:
            load(cursor, objects, hot, hot_user)
            cursor.execute(f"DELETE FROM {SEED_MARKER}")  # noqa: S608 - a constant
            cursor.execute(f"INSERT INTO {SEED_MARKER} VALUES (%s, %s, %s)", wanted)  # noqa: S608
        cursor.execute("SELECT count(*) FROM permissions_grant")
        grants = cursor.fetchone()[0]
    join_groups()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE objects_object")
        cursor.execute("ANALYZE permissions_grant")
    return {
        "objects": objects,
        "hot": hot,
        "grants": grants,
        "seconds": round(time.monotonic() - started, 1),
    }


def join_groups() -> None:
    """Puts the grouped user in the first GROUPED_MEMBERSHIPS of the groups the grants name
    (`md5('group' || k)`, as GRANTS_SQL writes them) and in no other group."""
    from accounts.models import Group, Membership, User

    user = User.objects.get(username=GROUPED_USERNAME)
    wanted = {
        uuid.UUID(hashlib.md5(f"group{k}".encode()).hexdigest()): f"bench-group-{k}"  # noqa: S324
        for k in range(GROUPED_MEMBERSHIPS)
    }
    Membership.objects.filter(user=user).exclude(group_id__in=wanted).delete()
    for group_id, name in wanted.items():
        group, _ = Group.objects.get_or_create(id=group_id, defaults={"name": name})
        Membership.objects.get_or_create(group=group, user=user)


def load(cursor: Any, objects: int, hot: int, hot_user: str) -> None:
    cursor.execute("SET LOCAL synchronous_commit = off")
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    cursor.execute("TRUNCATE objects_object, permissions_grant")
    cursor.execute(
        "CREATE TEMP TABLE bench_ids ON COMMIT DROP AS "
        "SELECT g AS n, gen_random_uuid()::text AS id FROM generate_series(1, %s) g",
        [objects],
    )
    with indexes_dropped(cursor, "objects_object"):
        cursor.execute(OBJECTS_SQL.format(owners=OWNERS))
    with indexes_dropped(cursor, "permissions_grant"):
        cursor.execute(GRANTS_SQL.format(owners=OWNERS, groups=GROUPS, last=GRANTS_PER_OBJECT - 1))
        cursor.execute(HOT_SQL, [hot_user, max(objects // hot, 1)])


# --- In the Django subprocess: measuring --------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed(send: Any, requests: int) -> dict[str, Any]:
    """Sends `send(i)` sequentially; p50/p95 in milliseconds. Every answer must be a 200."""
    for i in range(10):
        send(i)
    durations = []
    for i in range(requests):
        started = time.perf_counter()
        response = send(i)
        durations.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"request answered {response.status_code}: {response.content[:200]!r}")
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(durations), 3),
        "p95_ms": round(percentile(durations, 0.95), 3),
    }


def data_queries(send: Any) -> tuple[list[str], float]:
    """The SQL of one request (without database-cache round trips) and its database time."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    config = settings.CACHES["default"]
    table = config["LOCATION"] if config["BACKEND"].endswith("DatabaseCache") else None
    with CaptureQueriesContext(connection) as captured:
        send(0)
    data = [q for q in captured.captured_queries if not (table and table in q["sql"])]
    return [str(q["sql"]) for q in data], sum(float(q["time"]) for q in data) * 1000


def explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
        return [row[0] for row in cursor.fetchall()]


def scenario(send: Any, requests: int) -> dict[str, Any]:
    result = timed(send, requests)
    statements, db_ms = data_queries(send)
    plan = [line for sql in statements for line in explain(sql)]
    scans = sorted(
        {
            part.strip().split(" on ")[0].strip("-> ")
            for part in plan
            if " on " in part and "Scan" in part
        }
    )
    return {
        **result,
        "queries": len(statements),
        "db_ms": round(db_ms, 3),
        "sql": [sql[:600] for sql in statements],
        "plan": plan,
        "scans": scans,
        "seq_scan": any("Seq Scan" in line for line in plan),
    }


def bearer(client: Any, username: str, password: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password},
        content_type="application/json",
    )
    if response.status_code != 200:
        raise SystemExit(f"POST /api/v1/auth/token for {username} answered {response.status_code}")
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}"}


def measure(password: str, p7_requests: int, p8_requests: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    auth = bearer(client, HOT_USERNAME, password)
    grouped_auth = bearer(client, GROUPED_USERNAME, password)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM objects_object WHERE version = 1 ORDER BY md5(id) LIMIT 200")
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT object_id FROM permissions_grant WHERE subject_id = "
            "(SELECT id FROM accounts_user WHERE username = %s) ORDER BY md5(object_id) LIMIT 200",
            [HOT_USERNAME],
        )
        ids += [row[0] for row in cursor.fetchall()]

    def check(i: int) -> Any:
        body = {"object_type": "object", "object_id": ids[i % len(ids)], "permission": "read"}
        return client.post(
            "/api/v1/access/check", data=body, content_type="application/json", **auth
        )

    def page_scenario(headers: dict[str, str]) -> dict[str, Any]:
        def first_page(i: int) -> Any:
            return client.get(f"/api/v1/objects?page_size={PAGE_SIZE}", **headers)

        result = scenario(first_page, p8_requests)
        result["results"] = len(first_page(0).json()["results"])
        return result

    return {
        "P7": scenario(check, p7_requests),
        "P8": page_scenario(auth),
        "P8g": page_scenario(grouped_auth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    role = parser.add_mutually_exclusive_group(required=True)
    role.add_argument("--seed", action="store_true")
    role.add_argument("--measure", action="store_true")
    parser.add_argument("--objects", type=int)
    parser.add_argument("--hot", type=int)
    parser.add_argument("--password")
    parser.add_argument("--p7", type=int, default=FULL.p7_requests)
    parser.add_argument("--p8", type=int, default=FULL.p8_requests)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "micro_platform.settings.production")
    import django

    django.setup()
    result = seed(args.objects, args.hot) if args.seed else measure(args.password, args.p7, args.p8)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
