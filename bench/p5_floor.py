"""The floors under P5: how close to the bare Argon2id rate a sign-in could come on this
machine before it does any work of its own (bench/README.md, "What bounds P5").

Under the same gunicorn and wrk as P5, each between two bare Argon2id runs (the ratio is to
their mean, as P5's is), the same request bodies go to:

1. a bare WSGI app that parses the body and verifies the password (p5_floor_wsgi.py): the
   server, the load generator and the machine;
2. the project's own stack (production settings, every middleware, DRF) with a view that
   validates the body as the token endpoint does and verifies the password with Django's
   hasher (p5_floor_urls.py);
3. the same view also signing an access token as a sign-in does (RS256);
4. P5 itself, `POST /api/v1/auth/token`, on the same server as 2 and 3.

What a sign-in adds to 3 (the account read, the lockout count, the token family and refresh
token, the audit events, the commits) must fit between 3's ratio and P5's target.

    .venv/bin/python bench/p5_floor.py [--only sqlite|postgresql] [--smoke]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import run as bench

FLOORS = (
    ("wsgi", "bare WSGI: parse the body, verify the password", "/"),
    ("stack", "the project's stack: validate the body, verify the password", "/bench/floor/hash"),
    ("stack_rs256", "the same, and sign an access token (RS256)", "/bench/floor/sign"),
    ("P5", "P5: POST /api/v1/auth/token", "/api/v1/auth/token"),
)


def measure(configuration: bench.Configuration, mode: bench.Mode) -> list[tuple[str, float, float]]:
    """(label, requests/s, ratio to the bare Argon2id rate measured on either side)."""
    size = bench.prepare_size(configuration.large)
    django_hash = str(size.seed["password_hash"])
    # The bare WSGI app reads argon2-cffi's form of the hash; the stack's views Django's.
    wsgi_size = replace(
        size, env={**size.env, "BENCH_FLOOR_HASH": bench.argon2_encoded(django_hash)}
    )
    stack_env = {"BENCH_FLOOR_HASH": django_hash, "DJANGO_SETTINGS_MODULE": "p5_floor_settings"}
    stack_size = replace(size, env={**size.env, **stack_env})
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="micro-bench-floor-") as tmp,
        bench.bench_app_server(
            wsgi_size, Path(tmp), "p5_floor_wsgi:application", "P5 floor, bare WSGI"
        ) as wsgi_url,
        bench.bench_app_server(
            stack_size, Path(tmp), "micro_platform.wsgi:application", "P5 floors, the stack"
        ) as stack_url,
    ):
        rate = bench.measure_argon2(size, mode.argon2_s)
        for key, label, path in FLOORS:
            server = bench.Server(size, wsgi_url if key == "wsgi" else stack_url)
            scenario = bench.login_scenario(key, size.seed["login_usernames"], path)
            result = bench.run_scenario(server, scenario, mode, Path(tmp))
            after = bench.measure_argon2(size, mode.argon2_s)
            if result.error or result.wrk is None:
                raise bench.BenchError(result.error or f"{key}: no result")
            rows.append((label, result.wrk.ok_rps, result.wrk.ok_rps / ((rate + after) / 2)))
            rate = after
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The floors under P5 (bench/README.md).")
    parser.add_argument("--smoke", action="store_true", help="short run on small data")
    parser.add_argument("--only", choices=[bench.SQLITE, bench.POSTGRESQL], default=bench.SQLITE)
    args = parser.parse_args(argv)
    mode = bench.SMOKE if args.smoke else replace(bench.FULL, large_users=bench.MIN_USERS)
    bench.raise_on_sigterm()
    configuration = bench.make_configurations(mode, secrets.token_urlsafe(50), args.only)[0]
    try:
        rows = measure(configuration, mode)
    except bench.BenchError as exc:
        print(f"p5_floor: error: {exc}", file=sys.stderr)
        return 1
    print(f"\n{configuration.title}: sign-ins per second and × the bare Argon2id rate")
    for label, rps, ratio in rows:
        print(f"  {label:<64} {rps:7.1f}/s  {ratio:5.3f}")
    print(f"  {'P5 target':<64} {'':>9}  {0.85:5.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
