"""Seeds a benchmark database through the Django ORM; prints one JSON line on stdout.

Run by `bench/run.py` in a subprocess with the production settings and the bench database in
the environment. Idempotent: the `bench-u<n>` users are made exactly `--users` (missing ones
created, extra ones deleted), so re-running against the same database is cheap. Every seeded
user shares one precomputed password hash (one Argon2id `set_password`, copied by bulk_create).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import django

USER_PREFIX = "bench-u"
LOGIN_PREFIX = "bench-login-"
BATCH_SIZE = 2000


def username_for(index: int) -> str:
    return f"{USER_PREFIX}{index:07d}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, required=True, help="how many bench-u users")
    parser.add_argument("--login-users", type=int, required=True, help="users with --password")
    parser.add_argument("--password", required=True)
    parser.add_argument("--sample", type=int, default=1000, help="random user ids to return")
    return parser.parse_args()


def shared_password_hash(password: str) -> str:
    from accounts.models import User

    template = User(username="bench-template")
    template.set_password(password)
    return template.password


def sync_bench_users(target: int, password_hash: str) -> tuple[int, int]:
    """Makes the `bench-u` users exactly 0..target-1; returns (created, deleted)."""
    from accounts.models import User

    bench = User.objects.filter(username__startswith=USER_PREFIX)
    deleted = delete_bench_users_from(target)
    existing = set(bench.values_list("username", flat=True))
    missing = [i for i in range(target) if username_for(i) not in existing]
    for start in range(0, len(missing), BATCH_SIZE):
        User.objects.bulk_create(
            [new_user(i, password_hash) for i in missing[start : start + BATCH_SIZE]]
        )
    return len(missing), deleted


def delete_bench_users_from(index: int) -> int:
    """Deletes the `bench-u` users numbered `index` and up; returns how many.

    One SQL statement: these users never signed in, so nothing references them and there is
    no token to revoke (the ORM's per-user pre_delete revocation would take minutes for
    100 000 users). If something does reference one, the deferred foreign keys fail the
    commit and the ORM deletes them the slow way, cascades and signals included.
    """
    from django.db import IntegrityError, connection, transaction

    from accounts.models import User

    table = connection.ops.quote_name(User._meta.db_table)
    params = [f"{USER_PREFIX}%", username_for(index)]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE username LIKE %s AND username >= %s",  # noqa: S608
                params,
            )
            return int(cursor.rowcount)
    except IntegrityError:
        doomed = User.objects.filter(username__startswith=USER_PREFIX, username__gte=params[1])
        _, per_model = doomed.delete()
        return per_model.get(User._meta.label, 0)


def new_user(index: int, password_hash: str) -> Any:
    from accounts.models import User

    name = username_for(index)
    return User(
        username=name,
        email=f"{name}@bench.invalid",
        display_name=f"Bench User {index}",
        password=password_hash,
    )


def sync_login_users(count: int, password_hash: str) -> list[str]:
    """Users the bench signs in as (the known password); their hash is reset every run."""
    from accounts.models import User

    names = [f"{LOGIN_PREFIX}{i}" for i in range(count)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create(
        [User(username=name, password=password_hash) for name in names if name not in existing]
    )
    User.objects.filter(username__in=names).update(password=password_hash, is_active=True)
    return names


def analyze(changed: bool) -> None:
    """Fresh planner statistics after a bulk load (and space back after a bulk delete)."""
    from django.db import connection

    from accounts.models import User

    table = connection.ops.quote_name(User._meta.db_table)
    # SQLite has no VACUUM of one table (only of the whole file); ANALYZE is enough there.
    vacuum = changed and connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}" if vacuum else f"ANALYZE {table}")


def sample_ids(size: int) -> list[str]:
    """Random bench user ids; their rows are read once so no scenario starts on a cold cache."""
    from accounts.models import User

    ids = list(
        User.objects.filter(username__startswith=USER_PREFIX)
        .order_by("?")
        .values_list("id", flat=True)[:size]
    )
    len(User.objects.filter(pk__in=ids))
    return [str(value) for value in ids]


def main() -> None:
    args = parse_args()
    django.setup()
    from accounts.models import User

    started = time.perf_counter()
    password_hash = shared_password_hash(args.password)
    created, deleted = sync_bench_users(args.users, password_hash)
    logins = sync_login_users(args.login_users, password_hash)
    analyze(changed=bool(created or deleted))
    result = {
        "users_total": User.objects.count(),
        "bench_users": args.users,
        "created": created,
        "deleted": deleted,
        "login_usernames": logins,
        "password_hash": password_hash,
        "sample_ids": sample_ids(args.sample),
        "seconds": round(time.perf_counter() - started, 1),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
