"""Each SDK's live tests (Go, TypeScript, Python) against one real server (live_server.py).

The server runs the production settings under gunicorn, on an empty database of its own: a
sibling of the suite's PostgreSQL database when DATABASE_URL names one, else a SQLite file.
Each SDK signs in, mints and exchanges an API key, verifies tokens, reads users, grants and
checks access, survives a signing-key rotation and sees a revoked token refused through
introspection (the list is in each SDK's live test). Those tests skip without the
`MICRO_LIVE_*` environment; here it is set, so a skip counts as a failure, and so does a
missing toolchain under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import procs
from tests.clients.live_server import LiveServer, live_server
from tests.load.harness import Server

pytestmark = pytest.mark.live

CLIENTS = procs.ROOT / "clients"
RUN_TIMEOUT_S = 600


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"`{name}` is not installed; CI runs every SDK's live tests")
        pytest.skip(f"`{name}` is not installed")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = os.environ.get("DATABASE_URL", "")
    database: Server | None = None
    if url.startswith(("postgres://", "postgresql://")):
        base = Server.parse(url)
        database = base.sibling(f"{base.name}_sdk_live")
        database.recreate()
    try:
        folder = tmp_path_factory.mktemp("live")
        with live_server(folder, database_url=database.url if database else None) as s:
            yield s
    finally:
        if database is not None:
            database.drop()


def _run(command: list[str], cwd: Path, server: LiveServer) -> str:
    env = {**os.environ, **server.env}
    proc = subprocess.run(  # noqa: S603 - the SDKs' own test commands, no input
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{output[-6000:]}"
    return output


def test_the_go_sdk_against_a_live_server(server: LiveServer) -> None:
    go = _tool("go")
    output = _run(
        [go, "test", "-count=1", "-v", "-run", "^TestLive", "./..."], CLIENTS / "go", server
    )
    assert re.search(r"--- PASS: TestLive", output), output[-3000:]
    assert "--- SKIP" not in output and "--- FAIL" not in output, output[-3000:]


def test_the_typescript_sdk_against_a_live_server(server: LiveServer) -> None:
    npm = _tool("npm")
    output = _run([npm, "run", "--silent", "test:live"], CLIENTS / "js", server)
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, output[-3000:]
    assert re.search(r"^# (fail|skip|todo|cancelled) 0$", output, re.MULTILINE), output[-3000:]
    assert not re.search(r"^# (fail|skip|cancelled) [1-9]", output, re.MULTILINE), output[-3000:]


def test_the_python_sdk_against_a_live_server(server: LiveServer) -> None:
    package = "clients/python"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-rs", "-m", "live"]
    command += ["-c", f"{package}/pyproject.toml", "--rootdir", package, f"{package}/tests"]
    output = _run(command, procs.ROOT, server)
    assert re.search(r"\b\d+ passed\b", output), output[-3000:]
    assert not re.search(r"\b(failed|skipped|error)", output), output[-3000:]
