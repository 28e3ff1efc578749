"""`micro` as a process against a fake service on loopback: `login --scope`, the device code
expiring while it waits, `users list|get|create`, and a reader that closes the pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from micro_cli import credentials

USERS = [
    {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "username": f"user{n:04d}",
        "kind": "user",
        "is_active": True,
        "email": f"user{n:04d}@example.com",
    }
    for n in range(1500)  # ~140 KB of table: far more than a pipe's buffer
]
EXPIRED = "micro: error: the code expired before it was approved; run `micro login` again\n"


@dataclass
class FakeService:
    url: str = ""
    token_answer: dict[str, Any] = field(default_factory=lambda: {"error": "expired_token"})
    device_expires_in: int = 600
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    posted: list[Any] = field(default_factory=list)

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        if (method, parts.path) == ("POST", "/o/device-authorization/"):
            self.forms.append(parse_qs(body.decode()))
            return 200, {
                "device_code": "dc",
                "user_code": "BCDF-GHJK",
                "verification_uri": f"{self.url}/device",
                "expires_in": self.device_expires_in,
                "interval": 1,
            }
        if (method, parts.path) == ("POST", "/o/token/"):
            return 400, self.token_answer
        if (method, parts.path) == ("GET", "/api/v1/users") and "username" in query:
            named = [user for user in USERS if user["username"] == query["username"][0]]
            return 200, {"results": named}
        if (method, parts.path) == ("GET", "/api/v1/users"):
            return 200, self.users_page(int(query.get("cursor", ["0"])[0]))
        if (method, parts.path) == ("POST", "/api/v1/users"):
            self.posted.append(json.loads(body))
            return 201, {**json.loads(body), "id": USERS[0]["id"]}
        return 404, {"code": "not_found", "detail": "No such route."}

    def users_page(self, start: int) -> dict[str, Any]:
        end = start + 100
        following = f"{self.url}/api/v1/users?cursor={end}" if end < len(USERS) else None
        return {"results": USERS[start:end], "next": following}


@pytest.fixture
def service() -> Iterator[FakeService]:
    fake = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, body = fake.handle(method, self.path, self.rfile.read(length))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.answer("GET")

        def do_POST(self) -> None:
            self.answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(config),
        "MICRO_CLI_POLL_INTERVAL": "0.05",
        "PYTHONUNBUFFERED": "",
    }


@pytest.fixture
def logged_in(env: dict[str, str], service: FakeService) -> dict[str, str]:
    credentials.save(
        credentials.Credentials(
            server=service.url,
            access_token="at",
            refresh_token="rt",
            expires_at=int(time.time()) + 3600,
            scope="users:read users:write",
        )
    )
    return env


def micro(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "micro_cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_login_asks_the_device_flow_for_the_scopes_given(
    env: dict[str, str], service: FakeService
) -> None:
    micro(env, "login", "--server", service.url, "--scope", "profile", "users:write")
    micro(env, "login", "--server", service.url)

    assert [form["scope"] for form in service.forms] == [
        ["profile users:write"],
        ["openid profile users:read"],
    ]


def test_a_code_the_server_says_expired_ends_the_wait_with_one_line(
    env: dict[str, str], service: FakeService
) -> None:
    result = micro(env, "login", "--server", service.url)

    assert (result.returncode, result.stderr) == (1, EXPIRED)
    assert "Waiting for approval..." in result.stdout
    assert not credentials.credentials_path().exists()


def test_a_code_whose_lifetime_runs_out_while_pending_ends_the_wait(
    env: dict[str, str], service: FakeService
) -> None:
    service.token_answer = {"error": "authorization_pending"}
    service.device_expires_in = 1

    started = time.monotonic()
    result = micro(env, "login", "--server", service.url)

    assert (result.returncode, result.stderr) == (1, EXPIRED)
    assert time.monotonic() - started < 30
    assert not credentials.credentials_path().exists()


def test_users_list_prints_every_page(logged_in: dict[str, str]) -> None:
    result = micro(logged_in, "users", "list")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "USERNAME", "KIND", "ACTIVE", "EMAIL"]
    assert len(lines) == 1 + len(USERS)
    assert lines[-1].split() == [USERS[-1]["id"], "user1499", "user", "yes", "user1499@example.com"]


def test_users_list_into_a_closed_pipe_stops_quietly(logged_in: dict[str, str]) -> None:
    """A real shell pipe: `head -1` exits after one line and the CLI's next write fails."""
    command = f"'{sys.executable}' -m micro_cli users list | head -1"
    result = subprocess.run(  # noqa: S603 - a fixed pipeline, to get a real closed pipe
        ["/bin/bash", "-o", "pipefail", "-c", command],
        env=logged_in,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.stdout.split() == ["ID", "USERNAME", "KIND", "ACTIVE", "EMAIL"]
    assert result.stderr == ""
    assert result.returncode == 141


def test_users_get_is_user_read(logged_in: dict[str, str], service: FakeService) -> None:
    by_new_name = micro(logged_in, "users", "get", "--username", "user0001", "--json")
    by_old_name = micro(logged_in, "user", "read", "--username", "user0001", "--json")

    assert by_new_name.returncode == 0, by_new_name.stderr
    assert by_new_name.stdout == by_old_name.stdout
    assert json.loads(by_new_name.stdout)["id"] == USERS[1]["id"]


def test_users_create_sends_the_fields_and_reads_the_password_from_stdin(
    logged_in: dict[str, str], service: FakeService
) -> None:
    result = micro(
        logged_in,
        "users",
        "create",
        "bob",
        "--email",
        "bob@example.com",
        "--kind",
        "service",
        "--password-stdin",
        "--json",
        stdin="correct horse battery\n",
    )

    assert result.returncode == 0, result.stderr
    assert service.posted == [
        {
            "username": "bob",
            "email": "bob@example.com",
            "kind": "service",
            "password": "correct horse battery",
        }
    ]


def test_users_create_with_an_empty_password_on_stdin_is_refused(
    logged_in: dict[str, str], service: FakeService
) -> None:
    result = micro(logged_in, "users", "create", "bob", "--password-stdin", stdin="\n")

    assert result.returncode == 1
    assert result.stderr == "micro: error: --password-stdin: no password on standard input\n"
    assert service.posted == []
