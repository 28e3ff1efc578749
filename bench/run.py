"""HTTP benchmark of the service in two configurations: prints tables, writes JSON and Markdown.

The configurations are the SQLite default without Redis (what `make run` gives a newcomer,
with the production settings) and PostgreSQL + Redis; every scenario runs in each, and the
ratios are taken within one configuration's run (bench/README.md).

`make bench` runs the full benchmark, `make bench-smoke` (`--smoke`) a short one on small data
that never fails; `--readme` also rewrites the table of README.md between its markers.
Targets and method: bench/README.md. Every target is a ratio measured in this run, or a
query count, never a bare time. A missed target does not change the exit status (benchmarks
are not tests); only setup errors do (except in smoke mode, which always exits 0 and prints
the error).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import downstream_bench  # bench/ is on sys.path: this file runs as a script
import objects_bench
import procs
import psycopg
import summary
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DEFAULT_DATABASE_URL = "postgres://micro:micro@127.0.0.1:5432/micro_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SQLITE_DIR = ROOT / "var" / "bench"
DEFAULT_OUTPUT = BENCH_DIR / "results" / "latest.json"
# Not a secret: the bench users exist only in the bench databases.
BENCH_PASSWORD = "bench-password-not-a-secret"
LOGIN_USERS = 8
SAMPLE_IDS = 1000
MIN_USERS = 10 * SAMPLE_IDS  # the small size must hold a full sample of ids
BATCH_IDS = 100
WRK_THREADS = 2
WRK_CONNECTIONS = 16
WRK_TIMEOUT = "10s"
GUNICORN_WORKERS = 2
ARGON2_PROCESSES = 2
# OWASP Password Storage Cheat Sheet minimum for Argon2id.
OWASP_MIN_MEMORY_KIB, OWASP_MIN_TIME_COST, OWASP_MIN_PARALLELISM = 19 * 1024, 2, 1


class BenchError(Exception):
    """The benchmark cannot be set up or run (not a missed target)."""


# --- Configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    smoke: bool
    duration_s: int
    warmup_s: int
    large_users: int
    small_users: int
    argon2_s: float


FULL = Mode(
    smoke=False, duration_s=10, warmup_s=2, large_users=100_000, small_users=10_000, argon2_s=5.0
)
SMOKE = Mode(
    smoke=True, duration_s=2, warmup_s=1, large_users=10_000, small_users=1_000, argon2_s=2.0
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the service (see bench/README.md).")
    parser.add_argument("--smoke", action="store_true", help="short run on small data; exit 0")
    parser.add_argument("--duration", type=int, help="seconds per scenario (default 10, smoke 2)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds (default 2, smoke 1)")
    parser.add_argument("--users", type=int, help="users at the large size (small = users / 10)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    parser.add_argument(
        "--only",
        choices=[SQLITE, POSTGRESQL],
        help='run one configuration (the other\'s column reads "not run")',
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="also rewrite the table of README.md between its bench markers",
    )
    return parser.parse_args(argv)


def mode_from_args(args: argparse.Namespace) -> Mode:
    mode = SMOKE if args.smoke else FULL
    if args.duration:
        mode = replace(mode, duration_s=args.duration)
    if args.warmup is not None:
        mode = replace(mode, warmup_s=args.warmup)
    if args.users:
        if args.users < MIN_USERS:
            raise BenchError(f"--users must be at least {MIN_USERS:,} (the small size is a tenth)")
        mode = replace(mode, large_users=args.users, small_users=args.users // 10)
    return mode


# --- PostgreSQL ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgDatabase:
    url: str
    host: str
    port: int
    user: str
    password: str
    name: str

    def sibling(self, name: str) -> PgDatabase:
        """The same server and credentials, another database."""
        url = urlsplit(self.url)._replace(path=f"/{name}").geturl()
        return replace(self, url=url, name=name)

    def ensure(self) -> str:
        """Creates the database when missing; returns the server version."""
        version = int(ensure_database(self))  # e.g. 150018 for 15.18
        return f"PostgreSQL {version // 10000}.{version % 10000}"

    def connect(self, dbname: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=5,
            autocommit=True,
        )


@dataclass(frozen=True)
class SqliteDatabase:
    """One SQLite file, kept between runs (seeding is incremental, as on PostgreSQL)."""

    path: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def name(self) -> str:
        return str(self.path)

    def ensure(self) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return f"SQLite {sqlite3.sqlite_version}"


Database = PgDatabase | SqliteDatabase


def bench_database_url() -> str:
    """BENCH_DATABASE_URL, else a PostgreSQL DATABASE_URL, else the default."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"}:
        return url
    return DEFAULT_DATABASE_URL


def parse_database_url(url: str) -> PgDatabase:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise BenchError(
            f"the benchmark needs PostgreSQL, got a {parts.scheme or 'schemeless'} URL; "
            f"set BENCH_DATABASE_URL=postgres://user:password@host:port/dbname"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise BenchError(f"no database name in {redact(url)}")
    return PgDatabase(
        url=url,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        name=name,
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def ensure_database(db: PgDatabase) -> str:
    """Creates the database when missing; returns the server version."""
    try:
        with db.connect(db.name) as conn:
            return str(conn.info.server_version)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise unreachable(db, exc) from exc
    try:
        with db.connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
            print(f"  created database {db.name}", flush=True)
            return str(conn.info.server_version)
    except psycopg.Error as exc:
        raise unreachable(db, exc) from exc


def unreachable(db: PgDatabase, exc: Exception) -> BenchError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BenchError(
        f"PostgreSQL is not usable at {db.host}:{db.port} as {db.user!r} "
        f"(database {db.name!r}): {reason}\n"
        "Start PostgreSQL, or point BENCH_DATABASE_URL at a server where this role may "
        "create databases (default: postgres://micro:micro@127.0.0.1:5432/micro_bench)."
    )


# --- Subprocesses with the Django environment --------------------------------------------------


def run_python(what: str, args: Sequence[str], env: dict[str, str]) -> str:
    """Runs `python <args>` in the repository; a failure is a setup error."""
    return procs.run_python(what, args, env, BenchError)


def last_json_line(stdout: str, what: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise BenchError(f"{what} printed no JSON result:\n{procs.tail(stdout)}") from exc
    if not isinstance(data, dict):
        raise BenchError(f"{what} printed {type(data).__name__}, not an object")
    return data


@dataclass(frozen=True)
class Size:
    """One data size: its database, its server port and environment, its seeded data."""

    label: str
    users: int
    db: Database
    port: int
    env: dict[str, str]
    seed: dict[str, Any] = field(default_factory=dict)


def prepare_size(size: Size) -> Size:
    print(f"[{size.label}] database {size.db.name}: {size.users:,} users", flush=True)
    size.db.ensure()
    run_python("migrate", ["manage.py", "migrate", "--noinput"], size.env)
    # Signing keys are encrypted with DJANGO_SECRET_KEY, which is new every run.
    run_python("rotate_signing_key", ["manage.py", "rotate_signing_key"], size.env)
    # gunicorn refuses to start without the static manifest (micro_platform.checks).
    run_python("collectstatic", ["manage.py", "collectstatic", "--noinput"], size.env)
    seed_args = [
        "bench/seed.py",
        f"--users={size.users}",
        f"--login-users={LOGIN_USERS}",
        f"--password={BENCH_PASSWORD}",
        f"--sample={SAMPLE_IDS}",
    ]
    seed = last_json_line(run_python("seed", seed_args, size.env), "seed")
    print(
        f"  seeded in {seed['seconds']} s: {seed['created']:,} created, "
        f"{seed['deleted']:,} deleted, {seed['users_total']:,} users in the table",
        flush=True,
    )
    return replace(size, seed=seed)


def count_queries(size: Size) -> dict[str, Any]:
    args = ["bench/queries.py", f"--username={size.seed['login_usernames'][0]}"]
    args.append(f"--password={BENCH_PASSWORD}")
    return last_json_line(run_python("query count", args, size.env), "query count")


# --- The server ------------------------------------------------------------------------------


def http_request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


@contextmanager
def gunicorn(size: Size, workdir: Path) -> Iterator[str]:
    base_url = f"http://127.0.0.1:{size.port}"
    args = ["micro_platform.wsgi", "-w", str(GUNICORN_WORKERS), "-b", f"127.0.0.1:{size.port}"]
    log_path = workdir / f"gunicorn-{size.label}.log"
    with procs.gunicorn(args, size.env, log_path, base_url, BenchError):
        print(f"  gunicorn ({GUNICORN_WORKERS} workers) on {base_url}", flush=True)
        yield base_url


@contextmanager
def bench_app_server(size: Size, workdir: Path, app: str, name: str) -> Iterator[str]:
    """A WSGI app (`module:application`, bench/ on the path) under the same gunicorn
    settings, in the size's environment, on a port of its own."""
    port = procs.free_port()
    base_url = f"http://127.0.0.1:{port}"
    args = [app, "-w", str(GUNICORN_WORKERS), "-b", f"127.0.0.1:{port}"]
    args += ["--pythonpath", str(BENCH_DIR)]
    log_path = workdir / f"gunicorn-{name.replace(' ', '-')}.log"
    with procs.gunicorn(args, size.env, log_path, base_url, BenchError):
        print(f"  {name} ({GUNICORN_WORKERS} workers) on {base_url}", flush=True)
        yield base_url


def ceiling_server(size: Size, workdir: Path) -> AbstractContextManager[str]:
    """The bare-WSGI ceiling (bench/hello_wsgi.py) under the same gunicorn settings."""
    return bench_app_server(size, workdir, "hello_wsgi:application", "bare WSGI ceiling")


def obtain_token(base_url: str, username: str) -> str:
    body = json.dumps({"username": username, "password": BENCH_PASSWORD}).encode()
    status, data = http_request(
        f"{base_url}/api/v1/auth/token",
        method="POST",
        body=body,
        headers={"Content-Type": "application/json"},
    )
    if status != 200:
        raise BenchError(f"POST /api/v1/auth/token returned {status}: {data[:300]!r}")
    return str(json.loads(data)["access_token"])


# --- Scenarios and wrk -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    method: str
    requests: tuple[tuple[str, str | None], ...]  # (path, body), cycled through
    headers: tuple[tuple[str, str], ...] = ()


def healthz_scenario(key: str) -> Scenario:
    return Scenario(key, "GET /healthz", "GET", (("/healthz", None),))


def ceiling_scenario() -> Scenario:
    return Scenario("ceiling", "bare WSGI hello (same gunicorn)", "GET", (("/healthz", None),))


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {token}"),)


def user_detail_scenario(key: str, ids: Sequence[str], token: str) -> Scenario:
    requests = tuple((f"/api/v1/users/{user_id}", None) for user_id in ids)
    return Scenario(key, "GET /api/v1/users/{id}", "GET", requests, bearer(token))


def user_batch_scenario(key: str, ids: Sequence[str], token: str) -> Scenario:
    batches = [ids[i : i + BATCH_IDS] for i in range(0, len(ids) - BATCH_IDS + 1, BATCH_IDS)]
    requests = tuple(("/api/v1/users?ids=" + ",".join(batch), None) for batch in batches)
    return Scenario(key, f"GET /api/v1/users?ids=<{BATCH_IDS}>", "GET", requests, bearer(token))


def login_scenario(
    key: str, usernames: Sequence[str], path: str = "/api/v1/auth/token"
) -> Scenario:
    """The sign-in bodies of `usernames`, POSTed to the token endpoint (or `path`)."""
    bodies = [json.dumps({"username": name, "password": BENCH_PASSWORD}) for name in usernames]
    requests = tuple((path, body) for body in bodies)
    headers = (("Content-Type", "application/json"),)
    return Scenario(key, f"POST {path}", "POST", requests, headers)


def lua_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


LUA_TEMPLATE = """-- generated by bench/run.py: cycles through prebuilt requests
local method = {method}
local headers = {{ {headers} }}
local specs = {{
{specs}
}}
local requests = {{}}
local counter = 0

function init(args)
  for i, spec in ipairs(specs) do
    requests[i] = wrk.format(method, spec[1], headers, spec[2])
  end
  counter = math.random(#requests) - 1
end

function request()
  counter = counter % #requests + 1
  return requests[counter]
end
"""


def lua_script(scenario: Scenario) -> str:
    headers = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in scenario.headers)
    specs = ",\n".join(
        f"  {{ {lua_string(path)}, {lua_string(body) if body is not None else 'nil'} }}"
        for path, body in scenario.requests
    )
    return LUA_TEMPLATE.format(method=lua_string(scenario.method), headers=headers, specs=specs)


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int

    @property
    def ok_rps(self) -> float:
        """Requests/s that got a 2xx/3xx answer (a fast 401 or 429 must not inflate the rate)."""
        if self.requests == 0:
            return 0.0
        return self.rps * (self.requests - self.non_2xx) / self.requests

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(output: str) -> WrkResult:
    percentiles = {
        float(p): float(v) * _UNIT_MS[unit] for p, v, unit in _PERCENTILE.findall(output)
    }
    rps, total = _RPS.search(output), _TOTAL.search(output)
    if rps is None or total is None or 50.0 not in percentiles or 99.0 not in percentiles:
        raise BenchError(f"cannot parse wrk output:\n{procs.tail(output)}")
    non_2xx, socket_errors = _NON_2XX.search(output), _SOCKET.search(output)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=percentiles[50.0],
        p99_ms=percentiles[99.0],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    )


def run_wrk(base_url: str, script: Path, seconds: int) -> WrkResult:
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s"]
    cmd += ["--timeout", WRK_TIMEOUT, "--latency", "-s", str(script), f"{base_url}/"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if proc.returncode != 0:
        raise BenchError(f"wrk exited {proc.returncode}:\n{procs.tail(proc.stderr + proc.stdout)}")
    return parse_wrk(proc.stdout)


@dataclass
class ScenarioResult:
    key: str
    label: str
    size: str
    users_total: int
    first_status: int | None = None
    wrk: WrkResult | None = None
    error: str | None = None


def probe(base_url: str, scenario: Scenario) -> int:
    """One request before the load: its status shows up in the report if it is not 2xx."""
    path, body = scenario.requests[0]
    status, _ = http_request(
        base_url + path,
        method=scenario.method,
        body=body.encode() if body is not None else None,
        headers=dict(scenario.headers),
    )
    return status


@dataclass(frozen=True)
class Server:
    size: Size
    base_url: str


def run_scenario(server: Server, scenario: Scenario, mode: Mode, workdir: Path) -> ScenarioResult:
    size = server.size
    result = ScenarioResult(scenario.key, scenario.label, size.label, int(size.seed["users_total"]))
    print(f"  {scenario.key}: {scenario.label} ...", end=" ", flush=True)
    try:
        result.first_status = probe(server.base_url, scenario)
        script = workdir / f"{scenario.key}.lua"
        script.write_text(lua_script(scenario))
        if mode.warmup_s > 0:
            run_wrk(server.base_url, script, mode.warmup_s)
        result.wrk = run_wrk(server.base_url, script, mode.duration_s)
    except (BenchError, OSError, subprocess.TimeoutExpired) as exc:
        result.error = f"{scenario.key}: {exc}"
        print("error", flush=True)
        return result
    wrk = result.wrk
    print(f"{wrk.rps:.1f} req/s, p50 {wrk.p50_ms:.2f} ms, errors {wrk.errors}", flush=True)
    if result.first_status is not None and not 200 <= result.first_status < 400:
        result.error = f"{scenario.key}: the first request answered {result.first_status}"
    return result


def build_scenario(key: str, server: Server) -> Scenario:
    """Scenario `key` on this server's data (keys at the small size get a `_small` suffix).

    Bearer scenarios get a fresh access token, valid for the whole scenario (10 minutes).
    """
    size = server.size
    name = key if size.label == "large" else f"{key}_{size.label}"
    ids, logins = size.seed["sample_ids"], size.seed["login_usernames"]
    if key == "baseline":
        return healthz_scenario(name)
    if key == "P3":
        return user_detail_scenario(name, ids, obtain_token(server.base_url, logins[0]))
    if key == "P4":
        return user_batch_scenario(name, ids, obtain_token(server.base_url, logins[0]))
    if key == "P5":
        return login_scenario(name, logins)
    if key == "P6":  # OAuth client credentials: bench/oauth_bench.py
        return client_credentials_scenario(name, server)
    if key in ("P1", "P2"):  # gateway verify: bench/gateway.py
        return verify_scenario(name, server.base_url, obtain_token(server.base_url, logins[0]))
    raise BenchError(f"unknown scenario {key}")


def verify_scenario(key: str, base_url: str, token: str) -> Scenario:
    import gateway  # bench/gateway.py: this script's directory is on sys.path

    try:
        credential = (
            token if key.startswith("P1") else gateway.obtain_api_key(base_url, token, http_request)
        )
    except RuntimeError as exc:
        raise BenchError(str(exc)) from exc
    headers = gateway.verify_headers(key, credential)
    return Scenario(key, gateway.verify_label(key), "GET", ((gateway.VERIFY_PATH, None),), headers)


def client_credentials_scenario(key: str, server: Server) -> Scenario:
    """The bench's confidential client, created afresh through `createserviceaccount`."""
    import oauth_bench  # bench/oauth_bench.py: this script's directory is on sys.path

    output = run_python("createserviceaccount", ["bench/oauth_bench.py"], server.size.env)
    client = last_json_line(output, "createserviceaccount")
    path, body, headers = oauth_bench.token_request(client)
    return Scenario(key, oauth_bench.LABEL, "POST", ((path, body),), headers)


@contextmanager
def running_servers(sizes: Sequence[Size], workdir: Path) -> Iterator[list[Server]]:
    """One gunicorn per size, all up at once (idle ones cost no CPU); stopped on the way out."""
    with ExitStack() as stack:
        servers = []
        for size in sizes:
            servers.append(Server(size, stack.enter_context(gunicorn(size, workdir))))
        yield servers


# --- Bare Argon2id verifies ------------------------------------------------------------------


def argon2_params(django_hash: str) -> dict[str, Any]:
    from argon2 import extract_parameters

    params = extract_parameters(argon2_encoded(django_hash))
    return {
        "type": params.type.name,
        "memory_cost_kib": params.memory_cost,
        "time_cost": params.time_cost,
        "parallelism": params.parallelism,
        "hash_len": params.hash_len,
        "salt_len": params.salt_len,
    }


def argon2_encoded(django_hash: str) -> str:
    """Django stores `argon2$argon2id$v=19$...`; argon2-cffi wants `$argon2id$v=19$...`."""
    algorithm, _, encoded = django_hash.partition("$")
    if algorithm != "argon2":
        raise BenchError(f"the bench user's password is hashed with {algorithm!r}, not Argon2")
    return "$" + encoded


def _verify_loop(job: tuple[str, str, float]) -> tuple[int, float]:
    from argon2 import PasswordHasher, extract_parameters

    encoded, password, seconds = job
    params = extract_parameters(encoded)
    hasher = PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        type=params.type,
    )
    hasher.verify(encoded, password)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        hasher.verify(encoded, password)
        count += 1
    return count, time.perf_counter() - started


def argon2_verify_rate(django_hash: str, seconds: float) -> float:
    """Verifies/s of the stored hash in ARGON2_PROCESSES processes at once (no server)."""
    jobs = [(argon2_encoded(django_hash), BENCH_PASSWORD, seconds)] * ARGON2_PROCESSES
    with multiprocessing.Pool(ARGON2_PROCESSES, initializer=_pool_worker_signals) as pool:
        outcomes = pool.map(_verify_loop, jobs)
        pool.close()
        pool.join()
    return sum(count / elapsed for count, elapsed in outcomes)


def _pool_worker_signals() -> None:
    """Workers must die on the pool's SIGTERM (not unwind through our handler and deadlock);
    Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- Targets and the report ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    key: str
    what: str
    op: str  # ">=", "<=" or "=="
    limit: float
    # A different limit in the PostgreSQL + Redis configuration (None: the same).
    postgresql: float | None = None

    def limit_in(self, configuration: str) -> float:
        if configuration == POSTGRESQL and self.postgresql is not None:
            return self.postgresql
        return self.limit

    def text_in(self, configuration: str) -> str:
        return f"{self.op} {self.limit_in(configuration):g}"

    def met_in(self, configuration: str, value: float) -> bool:
        limit = self.limit_in(configuration)
        if self.op == ">=":
            return value >= limit
        if self.op == "<=":
            return value <= limit
        return value == limit


# The spec's targets, raised where issue 18 raised them: P1 and P2 from 0.9 and 0.8 to 1.5;
# P3 from 0.6 to 1.0 on SQLite and 0.75 on PostgreSQL (a round trip to another process).
TARGETS = (
    Target("P1", "rps / baseline rps", ">=", 1.5),
    Target("P2", "rps / baseline rps", ">=", 1.5),
    Target("P3", "rps / baseline rps", ">=", 1.0, postgresql=0.75),
    Target("P4", "p50 / P3 p50", "<=", 3.0),
    Target("P5", "rps / bare Argon2id verifies/s", ">=", 0.85),
    Target("P6", "tokens/s per core", ">=", 240),
    Target("P9", "recipe time / bare decode time (median)", "<=", 1.2),
    Target("P9_go", "Go SDK verify / bare go-jose verify", "<=", 1.2),
    Target("P9_js", "TypeScript SDK verify / bare jose jwtVerify", "<=", 1.2),
    Target("growth", "P3 p50 large / small", "<=", 1.5),
    Target("P3_queries", "queries", "==", 1),
    Target("P4_queries", "queries", "<=", 2),
)


@dataclass(frozen=True)
class Check:
    key: str
    what: str
    value: float | None
    target: str
    passed: bool | None  # None: could not be measured


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def ok_rps(results: dict[str, ScenarioResult], key: str) -> float | None:
    result = results.get(key)
    return result.wrk.ok_rps if result and result.wrk else None


def p50(results: dict[str, ScenarioResult], key: str) -> float | None:
    result = results.get(key)
    return result.wrk.p50_ms if result and result.wrk else None


def query_count(queries: dict[str, Any], key: str) -> float | None:
    entry = queries.get(key)
    return float(entry["queries"]) if isinstance(entry, dict) else None


def measured_values(
    results: dict[str, ScenarioResult],
    argon2: dict[str, Any],
    queries: dict[str, Any],
    downstream: dict[str, Any],
) -> dict[str, float | None]:
    return {
        "P1": ratio(ok_rps(results, "P1"), ok_rps(results, "baseline")),
        "P2": ratio(ok_rps(results, "P2"), ok_rps(results, "baseline")),
        "P3": ratio(ok_rps(results, "P3"), ok_rps(results, "baseline")),
        "P4": ratio(p50(results, "P4"), p50(results, "P3")),
        "P5": ratio(ok_rps(results, "P5"), argon2.get("verifies_per_s")),
        "growth": ratio(p50(results, "P3"), p50(results, "P3_small")),
        "P3_queries": query_count(queries, "P3"),
        "P4_queries": query_count(queries, "P4"),
        "P6": ratio(ok_rps(results, "P6"), float(os.cpu_count() or 1)),
        "P9": downstream.get("ratio"),
        "P9_go": downstream["sdks"].get("go", {}).get("ratio"),
        "P9_js": downstream["sdks"].get("js", {}).get("ratio"),
    }


def evaluate(values: dict[str, float | None], configuration: str) -> dict[str, Check]:
    checks = {}
    for target in TARGETS:
        value = values.get(target.key)
        passed = None if value is None else target.met_in(configuration, value)
        text = target.text_in(configuration)
        checks[target.key] = Check(target.key, target.what, value, text, passed)
    return checks


def argon2_cost_check(params: dict[str, Any]) -> Check:
    """The configured cost must not be below the OWASP minimum (m=19 MiB, t=2, p=1)."""
    passed = (
        params.get("memory_cost_kib", 0) >= OWASP_MIN_MEMORY_KIB
        and params.get("time_cost", 0) >= OWASP_MIN_TIME_COST
        and params.get("parallelism", 0) >= OWASP_MIN_PARALLELISM
    )
    minimum = f"m >= {OWASP_MIN_MEMORY_KIB} KiB, t >= {OWASP_MIN_TIME_COST}, p >= 1"
    return Check("P5_cost", "Argon2id cost", None, minimum, passed if params else None)


def verdict(item: Check | None) -> str:
    if item is None:
        return "-"
    return {True: "pass", False: "FAIL", None: "n/a"}[item.passed]


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def scenario_row(key: str, result: ScenarioResult, item: Check | None) -> list[str]:
    wrk = result.wrk
    name = f"{key} {result.label}"
    if key.startswith("P3"):
        name += f" ({result.users_total:,} users)"
    return [
        name,
        fmt(wrk.ok_rps if wrk else None, 1),
        fmt(wrk.p50_ms if wrk else None),
        fmt(wrk.p99_ms if wrk else None),
        str(wrk.errors) if wrk else "-",
        fmt(item.value) if item else "-",
        f"{item.target} ({item.what})" if item else "-",
        "error" if wrk is None else verdict(item),
    ]


def table_rows(
    results: dict[str, ScenarioResult],
    argon2: dict[str, Any],
    downstream: dict[str, Any],
    checks: dict[str, Check],
) -> list[list[str]]:
    rows = []
    for key, result in results.items():
        if key == "P5":
            rate = fmt(argon2.get("verifies_per_s"), 1)
            rows.append([f"argon2 bare verify ({ARGON2_PROCESSES} procs)", rate] + ["-"] * 6)
        rows.append(scenario_row(key, result, checks.get(key)))
    rows += downstream_rows(downstream, checks["P9"])
    rows += [sdk_row(language, downstream["sdks"], checks[f"P9_{language}"]) for language in SDKS]
    growth = checks["growth"]
    target = f"{growth.target} ({growth.what})"
    rows.append(["growth P3 (10x rows)", *["-"] * 4, fmt(growth.value), target, verdict(growth)])
    return rows


def downstream_rows(downstream: dict[str, Any], item: Check) -> list[list[str]]:
    """P9 in two rows: the bare decode (baseline) and the recipe; rates are verifies/s."""
    failed = downstream.get("error") is not None
    bare = ["P9 bare PyJWT RS256 decode (1 proc)", fmt(downstream.get("bare_per_s"), 1)]
    recipe = ["P9 downstream recipe verify (1 proc)", fmt(downstream.get("recipe_per_s"), 1)]
    target = f"{item.target} ({item.what})"
    return [
        bare + ["-"] * 6,
        recipe + ["-"] * 3 + [fmt(item.value, 3), target, "error" if failed else verdict(item)],
    ]


def sdk_row(language: str, sdks: dict[str, Any], item: Check) -> list[str]:
    """P9 of one SDK: its verify against its language's bare library call, per token."""
    report = sdks.get(language, {})
    rate = report.get("sdk_ns_per_token")
    target = f"{item.target} ({item.what})"
    result = "error" if "error" in report else verdict(item)
    per_s = fmt(1e9 / rate, 1) if rate else "-"
    name = f"P9 {language} SDK verify (1 proc)"
    return [name, per_s, *["-"] * 3, fmt(item.value, 3), target, result]


def print_table(rows: list[list[str]], out: TextIO = sys.stdout) -> None:
    header = ["scenario", "rps", "p50 ms", "p99 ms", "errors", "ratio", "target", "result"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {1, 2, 3, 4, 5}

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return " | ".join(cells).rstrip()

    print(line(header), file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for row in rows:
        print(line(row), file=out)


def print_queries(queries: dict[str, Any], checks: dict[str, Check]) -> None:
    if "error" in queries:
        print(f"queries: not measured ({queries['error']})")
        return
    print(f"queries (in-process, cache backend {queries.get('cache_backend', '?')}):")
    for key in ("P3", "P4"):
        entry, item = queries[key], checks[f"{key}_queries"]
        extra = f" + {entry['cache_queries']} on the cache table" if entry["cache_queries"] else ""
        status, target = entry["status"], f"target {item.target}: {verdict(item)}"
        print(f"  {key}: {entry['queries']} queries{extra} (status {status}), {target}")


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu_model = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gib": memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def memory_gib() -> float | None:
    """MemTotal of /proc/meminfo in GiB (None where there is no such file)."""
    try:
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                return round(int(row.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def scenario_json(result: ScenarioResult) -> dict[str, Any]:
    data = asdict(result)
    if result.wrk is not None:
        data["wrk"]["ok_rps"] = round(result.wrk.ok_rps, 2)
        data["wrk"]["errors"] = result.wrk.errors
    return data


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    print(f"results written to {path}")


# --- Orchestration ---------------------------------------------------------------------------


def require_tools() -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")


SQLITE, POSTGRESQL = "sqlite", "postgresql"


@dataclass(frozen=True)
class Configuration:
    """One column of the table: a database (two sizes) and a cache, measured on their own."""

    key: str
    large: Size
    small: Size
    redis_url: str | None

    @property
    def title(self) -> str:
        if self.key == SQLITE:
            return "SQLite default, no Redis"
        return "PostgreSQL + Redis" if self.redis_url else "PostgreSQL, no Redis"


def redis_reachable(url: str) -> bool:
    """Whether a Redis server answers PING at this URL's host and port (password-less)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1
        ) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def bench_redis_url() -> str | None:
    """REDIS_URL when set; else the local default, if a Redis server answers there."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    return DEFAULT_REDIS_URL if redis_reachable(DEFAULT_REDIS_URL) else None


def make_sizes(
    mode: Mode, secret: str, large: Database, small: Database, redis_url: str | None
) -> tuple[Size, Size]:
    sizes = []
    for label, db, users in (
        ("large", large, mode.large_users),
        ("small", small, mode.small_users),
    ):
        port = procs.free_port()
        env = procs.django_env(db.url, secret, port)
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        sizes.append(Size(label, users, db, port, env))
    return sizes[0], sizes[1]


def make_configurations(mode: Mode, secret: str, only: str | None) -> list[Configuration]:
    """The SQLite default without Redis, then PostgreSQL with Redis (when reachable)."""
    configurations = []
    if only in (None, SQLITE):
        folder = Path(os.environ.get("BENCH_SQLITE_DIR") or DEFAULT_SQLITE_DIR)
        files = (
            SqliteDatabase(folder / "bench.sqlite3"),
            SqliteDatabase(folder / "bench_small.sqlite3"),
        )
        sizes = make_sizes(mode, secret, *files, None)
        configurations.append(Configuration(SQLITE, *sizes, None))
    if only in (None, POSTGRESQL):
        large = parse_database_url(bench_database_url())
        redis_url = bench_redis_url()
        sizes = make_sizes(mode, secret, large, large.sibling(f"{large.name}_small"), redis_url)
        configurations.append(Configuration(POSTGRESQL, *sizes, redis_url))
    return configurations


def measure_queries(size: Size) -> dict[str, Any]:
    print("query counts (in-process) ...", flush=True)
    try:
        return count_queries(size)
    except BenchError as exc:
        return {"error": str(exc)}


def measure_argon2(size: Size, seconds: float) -> float:
    print(f"  bare Argon2id verifies ({ARGON2_PROCESSES} processes) ...", end=" ", flush=True)
    rate = argon2_verify_rate(str(size.seed["password_hash"]), seconds)
    print(f"{rate:.1f}/s", flush=True)
    return rate


def run_load(
    large: Size, small: Size, mode: Mode
) -> tuple[list[ScenarioResult], dict[str, Any], dict[str, Any]]:
    """Every HTTP scenario, the bare Argon2id rate measured on either side of P5, and P9.

    The order keeps the two sides of each ratio next to each other in time, because a
    shared machine's speed drifts: baseline then P3, P3 at both sizes, P3 then P4.
    """
    load = f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{mode.duration_s}s"
    print(f"load: {load}, each after {mode.warmup_s} s of warm-up", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="micro-bench-") as tmp,
        running_servers([large, small], Path(tmp)) as (big, little),
        ceiling_server(large, Path(tmp)) as ceiling_url,
    ):

        def scenario(key: str, server: Server) -> ScenarioResult:
            return run_scenario(server, build_scenario(key, server), mode, Path(tmp))

        ceiling = Server(large, ceiling_url)
        results = [run_scenario(ceiling, ceiling_scenario(), mode, Path(tmp))]
        results += [scenario("baseline", big), scenario("P1", big), scenario("P2", big)]
        results += [scenario("P3", big), scenario("P3", little)]
        results.append(scenario("P4", big))
        rates = [measure_argon2(large, mode.argon2_s)]
        results.append(scenario("P5", big))
        rates.append(measure_argon2(large, mode.argon2_s))
        results.append(scenario("P6", big))
        downstream = measure_downstream(big, mode)
    django_hash = str(large.seed["password_hash"])
    argon2 = {
        "params": argon2_params(django_hash),
        "processes": ARGON2_PROCESSES,
        "seconds_each": mode.argon2_s,
        "samples_per_s": rates,
        "verifies_per_s": sum(rates) / len(rates),
    }
    return results, argon2, downstream


def measure_downstream(server: Server, mode: Mode) -> dict[str, Any]:
    """P9 in this process: the recipe against a bare PyJWT decode (bench/downstream_bench.py)."""
    print("  P9: downstream recipe vs bare PyJWT RS256 decode ...", end=" ", flush=True)
    audience = server.size.env.get("MICRO_TOKEN_AUDIENCE", "micro")
    try:
        token = obtain_token(server.base_url, server.size.seed["login_usernames"][0])
        report = downstream_bench.measure(server.base_url, token, audience, mode.duration_s)
    except Exception as exc:  # noqa: BLE001 - any failure is reported, the run goes on
        print("error", flush=True)
        return {"error": f"P9: {type(exc).__name__}: {exc}"}
    print(
        f"{report['recipe_per_s']:.0f}/s vs {report['bare_per_s']:.0f}/s, "
        f"ratio {report['ratio']:.3f}",
        flush=True,
    )
    return report


# P9 for the Go and TypeScript SDKs: each SDK's own bench, in its folder, prints one JSON line
# {"language", "sdk_ns_per_token", "bare_ns_per_token", "ratio"} (the JWKS cached; no server).
SDKS = ("go", "js")
SDK_BENCH_TIMEOUT_S = 300


def sdk_bench_command(language: str, mode: Mode) -> tuple[list[str], Path]:
    if language == "go":
        duration = "500ms" if mode.smoke else "2s"
        command = ["go", "run", "./cmd/micro-bench", "-duration", duration]
        return command, ROOT / "clients" / "go"
    return ["npm", "run", "--silent", "bench"], ROOT / "clients" / "js"


def measure_sdk(language: str, mode: Mode) -> dict[str, Any]:
    print(f"  P9 {language}: SDK verify vs bare library verify ...", end=" ", flush=True)
    command, folder = sdk_bench_command(language, mode)
    try:
        proc = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, timeout=SDK_BENCH_TIMEOUT_S
        )
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {procs.tail(proc.stderr + proc.stdout)}")
        report = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print("error", flush=True)
        return {"error": f"P9 {language}: {type(exc).__name__}: {exc}"}
    print(f"ratio {report['ratio']:.3f}", flush=True)
    return report


def print_report(
    title: str,
    results: dict[str, ScenarioResult],
    argon2: dict[str, Any],
    downstream: dict[str, Any],
    queries: dict[str, Any],
    checks: dict[str, Check],
    errors: list[str],
) -> None:
    print(f"\n{title}:")
    print_table(table_rows(results, argon2, downstream, checks))
    print_queries(queries, checks)
    cost, params = checks["P5_cost"], argon2["params"]
    print(
        f"argon2id cost: m={params['memory_cost_kib']} KiB, t={params['time_cost']}, "
        f"p={params['parallelism']} (OWASP minimum: {cost.target}): {verdict(cost)}"
    )
    for error in errors:
        print(f"error: {error}")


def measure_configuration(
    configuration: Configuration, mode: Mode, sdks: dict[str, Any]
) -> dict[str, Any]:
    """Every scenario in one configuration; its report (a setup error is reported in it)."""
    title = configuration.title
    print(f"\n=== {title} ===", flush=True)
    large, small = configuration.large, configuration.small
    try:
        version = large.db.ensure()
        large, small = prepare_size(large), prepare_size(small)
        queries = measure_queries(large)
        found, argon2, downstream = run_load(large, small, mode)
    except BenchError as exc:
        print(f"{title}: not measured: {exc}", flush=True)
        return {"title": title, "error": str(exc), "errors": [f"{title}: {exc}"]}
    if configuration.key == POSTGRESQL:
        objects_report = objects_bench.run_objects(
            [(size.label, size.env) for size in (large, small)],
            smoke=mode.smoke,
            password=BENCH_PASSWORD,
        )
    else:
        objects_report = {"skipped": OBJECTS_SKIPPED, "sizes": {}, "checks": [], "errors": []}
    downstream["sdks"] = sdks
    results = {result.key: result for result in found}
    checks = evaluate(measured_values(results, argon2, queries, downstream), configuration.key)
    checks["P5_cost"] = argon2_cost_check(argon2["params"])
    errors = [result.error for result in results.values() if result.error]
    if "error" in queries:
        errors.append(f"query count: {queries['error']}")
    if downstream.get("error"):
        errors.append(downstream["error"])
    print_report(title, results, argon2, downstream, queries, checks, errors)
    return {
        "title": title,
        "database": version,
        "config": {
            **asdict(mode),
            "wrk_threads": WRK_THREADS,
            "wrk_connections": WRK_CONNECTIONS,
            "gunicorn_workers": GUNICORN_WORKERS,
            "redis": bool(configuration.redis_url),
            "databases": {size.label: size.db.name for size in (large, small)},
            "users_total": {size.label: size.seed["users_total"] for size in (large, small)},
        },
        "scenarios": {key: scenario_json(result) for key, result in results.items()},
        "argon2": argon2,
        "downstream": downstream,
        "queries": queries,
        "checks": [asdict(item) for item in checks.values()],
        "errors": [f"{title}: {error}" for error in errors + objects_report["errors"]],
        "objects": objects_report,
    }


OBJECTS_SKIPPED = (
    "P7/P8/P8g are measured on PostgreSQL only: their data is loaded with set-based "
    "PostgreSQL SQL (generate_series, index rebuilds) and their plans read with EXPLAIN ANALYZE"
)


def git_commit() -> str:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return proc.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def run(mode: Mode, output: Path, only: str | None, readme: bool) -> None:
    require_tools()
    commit = git_commit()  # what is measured: the tree as the run starts
    configurations = make_configurations(mode, secrets.token_urlsafe(50), only)
    print(f"bench ({'smoke' if mode.smoke else 'full'}):", flush=True)
    for configuration in configurations:
        print(f"  {configuration.title}: {redact(configuration.large.db.url)}", flush=True)
    print("P9 of the Go and TypeScript SDKs (no server, the same in every configuration):")
    sdks = {language: measure_sdk(language, mode) for language in SDKS}
    reports = {c.key: measure_configuration(c, mode, sdks) for c in configurations}
    errors = [error for report in reports.values() for error in report["errors"]]
    errors += [sdk["error"] for sdk in sdks.values() if "error" in sdk]
    report = {
        "smoke": mode.smoke,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": machine_info(),
        "configurations": reports,
        "sdks": sdks,
        "errors": errors,
    }
    write_json(output, report)
    markdown = summary.summary_markdown(report)
    print("\n" + markdown)
    markdown_path = output.with_suffix(".md")
    markdown_path.write_text(markdown)
    print(f"table written to {markdown_path}")
    if readme:
        summary.rewrite_readme(summary.README, markdown)
        print(f"table written into {summary.README} between its bench markers")
    failed = [r["error"] for r in reports.values() if "error" in r]
    if failed:
        raise BenchError("; ".join(failed))


def raise_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C does, so gunicorn is stopped on the way out."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        mode = mode_from_args(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    raise_on_sigterm()
    try:
        run(mode, args.output, args.only, args.readme)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"\nbench: error: {exc}", file=sys.stderr)
        if mode.smoke:
            print("bench: smoke mode: exiting 0 anyway", file=sys.stderr)
            return 0
        return 1
    except Exception:
        if not mode.smoke:
            raise
        traceback.print_exc()
        print("bench: smoke mode: exiting 0 anyway", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
