"""Real gunicorn instances of the service on one PostgreSQL database and one Redis.

Used by the load and fault tests: a fresh database (dropped and created again each run, so a
run is reproducible), migrated, with a signing key and seeded users, served by gunicorn
processes that share it, each its own process group, stopped gracefully at the end.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import requests
from psycopg import sql
from requests.adapters import HTTPAdapter

from bench import procs

ROOT = Path(__file__).resolve().parents[2]
# Not a secret: these users exist only in the throwaway load database.
PASSWORD = "load-password-not-a-secret"


class HarnessError(Exception):
    """The instances cannot be set up (not a failed check)."""


@dataclass(frozen=True)
class Server:
    """Where a PostgreSQL database lives, and how to reach it."""

    url: str
    host: str
    port: int
    user: str
    password: str
    name: str

    @classmethod
    def parse(cls, url: str) -> Server:
        parts = urlsplit(url)
        return cls(
            url=url,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            name=unquote(parts.path.lstrip("/")),
        )

    def sibling(self, name: str) -> Server:
        url = urlsplit(self.url)._replace(path=f"/{name}").geturl()
        return Server(url, self.host, self.port, self.user, self.password, name)

    def connect(self, dbname: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=3,
            autocommit=True,
        )

    def answers(self) -> bool:
        try:
            with self.connect("postgres"):
                return True
        except psycopg.Error:
            return False

    def recreate(self) -> None:
        """Drops the database (closing its connections) and creates it empty."""
        with self.connect("postgres") as conn:
            name = sql.Identifier(self.name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))

    def drop(self) -> None:
        with self.connect("postgres") as conn:
            name = sql.Identifier(self.name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()


def gunicorn_available() -> bool:
    proc = subprocess.run(
        [sys.executable, "-c", "import gunicorn"], capture_output=True, check=False
    )
    return proc.returncode == 0


def run_python(what: str, args: Sequence[str], env: dict[str, str]) -> str:
    return procs.run_python(what, args, env, HarnessError)


@dataclass
class Instance:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def gunicorn(name: str, env: dict[str, str], port: int, workdir: Path, workers: int) -> Iterator:
    url = f"http://127.0.0.1:{port}"
    args = ["micro_platform.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    args += ["--timeout", "60", "--graceful-timeout", "5"]
    log = workdir / f"gunicorn-{name}.log"
    with procs.gunicorn(args, env, log, url, HarnessError) as process:
        yield Instance(name, url, process, log)


@dataclass
class Cluster:
    """Gunicorn instances on one database and one Redis, and the seeded users' ids."""

    instances: list[Instance]
    user_ids: dict[str, str] = field(default_factory=dict)

    def url(self, index: int) -> str:
        return self.instances[index % len(self.instances)].url


@contextmanager
def cluster(
    *,
    db: Server,
    redis_url: str,
    usernames: Sequence[str],
    workdir: Path,
    instances: int = 2,
    workers: int = 2,
    extra_env: dict[str, str] | None = None,
    keep_database: bool = False,
) -> Iterator[Cluster]:
    """A fresh database with `usernames` (password PASSWORD), served by `instances` gunicorns."""
    secret = secrets.token_urlsafe(48)
    ports = [procs.free_port() for _ in range(instances)]
    # The issuer must be the same on every instance: tokens cross instances.
    env = procs.django_env(
        db.url,
        secret,
        ports[0],
        REDIS_URL=redis_url,
        DJANGO_STATIC_ROOT=str(workdir / "static"),
        **(extra_env or {}),
    )
    db.recreate()
    redis_flush(redis_url)
    try:
        run_python("migrate", ["manage.py", "migrate", "--noinput"], env)
        run_python("rotate_signing_key", ["manage.py", "rotate_signing_key"], env)
        # gunicorn refuses to start without the static manifest (micro_platform.checks).
        run_python("collectstatic", ["manage.py", "collectstatic", "--noinput"], env)
        seeded = run_python(
            "seed", ["bench/load_seed.py", f"--password={PASSWORD}", *usernames], env
        )
        user_ids = json.loads(seeded.strip().splitlines()[-1])
        with ExitStack() as stack:
            started = [
                stack.enter_context(gunicorn(chr(ord("A") + i), env, port, workdir, workers))
                for i, port in enumerate(ports)
            ]
            yield Cluster(started, user_ids)
    finally:
        if not keep_database:
            db.drop()


class SourceAddressAdapter(HTTPAdapter):
    """Connects from a given loopback address: the service sees it as the client IP."""

    def __init__(self, source_ip: str) -> None:
        self.source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source_ip: str | None = None) -> requests.Session:
    session = requests.Session()
    if source_ip is not None:
        session.mount("http://", SourceAddressAdapter(source_ip))
    return session


def login(
    session: requests.Session,
    base_url: str,
    username: str,
    password: str = PASSWORD,
    timeout: float = 30,
) -> requests.Response:
    return session.post(
        f"{base_url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=timeout,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(base_url: str, username: str, source_ip: str | None = None) -> dict[str, Any]:
    """The token response of a password sign-in (asserted to succeed)."""
    response = login(session_from(source_ip), base_url, username)
    assert response.status_code == 200, response.text
    return dict(response.json())


def grant_write(
    base_url: str, headers: dict[str, str], object_id: str, user_id: str
) -> requests.Response:
    """POST /api/v1/access: read and write on the object for the user."""
    return requests.post(
        f"{base_url}/api/v1/access",
        json={
            "object_type": "object",
            "object_id": object_id,
            "subject_type": "user",
            "subject_id": user_id,
            "read": True,
            "write": True,
            "admin": False,
        },
        headers=headers,
        timeout=30,
    )
