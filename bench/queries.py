"""Counts the SQL queries of P3 and P4 in-process; prints one JSON line on stdout.

Run by `bench/run.py` in a subprocess with the production settings and the bench database in
the environment. A request for other users is made once to warm the process (signing-key
ring, revocation sentinel, connection) and then the measured one with `CaptureQueriesContext`
on the default connection: its users are not yet among the public views the gateway's fast
path remembers (a repeated read of the same users costs no query). Queries against the
database cache table (used when REDIS_URL is not set) are counted separately, since they are
cache round trips rather than data queries.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import django

SQL_EXCERPT_CHARS = 300


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--username", required=True, help="a bench login user")
    parser.add_argument("--password", required=True)
    return parser.parse_args()


def obtain_token(client: Any, username: str, password: str) -> str:
    response = client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password},
        content_type="application/json",
    )
    if response.status_code != 200:
        raise SystemExit(f"POST /api/v1/auth/token returned {response.status_code}")
    return str(response.json()["access_token"])


def cache_table() -> str | None:
    from django.conf import settings

    config = settings.CACHES["default"]
    if config["BACKEND"].endswith("DatabaseCache"):
        return str(config["LOCATION"])
    return None


def cache_backend() -> str:
    from django.conf import settings

    return str(settings.CACHES["default"]["BACKEND"]).rsplit(".", 1)[-1]


def measure(client: Any, warm_path: str, path: str, token: str) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client.get(warm_path, **auth)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **auth)
    statements = [str(query["sql"]) for query in captured.captured_queries]
    table = cache_table()
    cache_queries = sum(1 for sql in statements if table and table in sql)
    return {
        "status": response.status_code,
        "queries": len(statements) - cache_queries,
        "cache_queries": cache_queries,
        "sql": [sql[:SQL_EXCERPT_CHARS] for sql in statements],
    }


def user_ids(count: int) -> list[str]:
    from accounts.models import User

    ids = User.objects.filter(username__startswith="bench-u").values_list("id", flat=True)
    return [str(value) for value in ids[:count]]


def main() -> None:
    args = parse_args()
    django.setup()
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    token = obtain_token(client, args.username, args.password)
    ids = user_ids(200)
    if len(ids) < 200:
        raise SystemExit("the bench database holds fewer than 200 bench users")
    batch_path = "/api/v1/users?ids="
    result = {
        "P3": measure(client, f"/api/v1/users/{ids[1]}", f"/api/v1/users/{ids[0]}", token),
        "P4": measure(
            client, batch_path + ",".join(ids[100:200]), batch_path + ",".join(ids[:100]), token
        ),
        "cache_backend": cache_backend(),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
