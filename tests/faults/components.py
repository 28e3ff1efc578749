"""A PostgreSQL cluster and a Redis server of the fault tests' own, to stop and start at will.

The suite's (and CI's) shared PostgreSQL and Redis are never touched: the cluster is a Debian
`pg_createcluster` cluster named `faults` on port 5439 (created if missing, dropped at the
end), the Redis a `redis-server` on port 6390 without persistence, started and killed here.
Both need root (CI runs as root) and the Debian PostgreSQL tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import redis

PG_CLUSTER = "faults"
PG_PORT = 5439
PG_USER = "micro"
PG_PASSWORD = "micro"
REDIS_PORT = 6390
START_TIMEOUT_S = 30.0


def pg_version() -> str | None:
    versions = sorted(
        (p.name for p in Path("/usr/lib/postgresql").glob("*") if p.name.isdigit()), key=int
    )
    return versions[-1] if versions else None


def pg_tools_available() -> bool:
    return (
        os.geteuid() == 0
        and pg_version() is not None
        and all(shutil.which(tool) for tool in ("pg_createcluster", "pg_ctlcluster", "su"))
    )


def redis_server_available() -> bool:
    return shutil.which("redis-server") is not None


def _tool(name: str) -> str:
    return shutil.which(name) or name


def _run(*cmd: str) -> None:
    proc = subprocess.run([_tool(cmd[0]), *cmd[1:]], capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")


def _psql_as_postgres(statement: str) -> None:
    _run(
        "su",
        "postgres",
        "-s",
        "/bin/sh",
        "-c",
        f'cd / && psql -p {PG_PORT} -v ON_ERROR_STOP=1 -qAt -c "{statement}"',
    )


class PgCluster:
    """The `faults` cluster: created and started by `up`, removed by `remove`."""

    def __init__(self) -> None:
        version = pg_version()
        assert version is not None
        self.version = version
        self.url = f"postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{PG_PORT}/micro_faults"

    def _exists(self) -> bool:
        return Path(f"/etc/postgresql/{self.version}/{PG_CLUSTER}").is_dir()

    def up(self) -> None:
        self.remove()  # a cluster left over by an interrupted run starts afresh
        _run("pg_createcluster", self.version, PG_CLUSTER, "--port", str(PG_PORT))
        self.start()
        _psql_as_postgres(
            f"DO \\$\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_USER}') "
            f"THEN CREATE ROLE {PG_USER} LOGIN CREATEDB PASSWORD '{PG_PASSWORD}'; END IF; "
            "END \\$\\$;"
        )

    def start(self) -> None:
        _run("pg_ctlcluster", self.version, PG_CLUSTER, "start")
        deadline = time.monotonic() + START_TIMEOUT_S
        while (
            subprocess.run(  # noqa: S603
                [_tool("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(PG_PORT)], check=False
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the faults cluster does not answer")
            time.sleep(0.1)

    def stop(self) -> None:
        # Fast shutdown: open sessions are cut, as in a crash or a failover.
        _run("pg_ctlcluster", self.version, PG_CLUSTER, "stop", "-m", "fast")

    def remove(self) -> None:
        if self._exists():
            _run("pg_dropcluster", "--stop", self.version, PG_CLUSTER)


class RedisServer:
    """A `redis-server` on REDIS_PORT, no persistence: a restart starts it empty."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{REDIS_PORT}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [
                _tool("redis-server"),
                "--port",
                str(REDIS_PORT),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=REDIS_PORT, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {REDIS_PORT} did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
