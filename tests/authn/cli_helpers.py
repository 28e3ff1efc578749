"""Running the installed `micro` console script against the live server, as a user would."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from oauth2_provider.models import DeviceGrant

from accounts.models import User
from tests.authn.oauth_helpers import device_decision

REPO = Path(__file__).resolve().parents[2]
MICRO = REPO / ".venv" / "bin" / "micro"
USER_CODE = re.compile(r"enter the code: (\S+)")
EXPIRED_LOGIN = "micro: error: Your login has expired; run `micro login` again.\n"


def ensure_launcher() -> Path:
    """The `micro` console script `make setup` installs (the clients/cli package, editable);
    installed here too when the suite runs without make."""
    if not MICRO.exists():
        subprocess.run(  # noqa: S603 - the venv's pip, this checkout's packages
            [str(MICRO.with_name("python")), "-m", "pip", "install", "--quiet", "--no-deps"]
            + ["-e", str(REPO / "clients" / "python"), "-e", str(REPO / "clients" / "cli")],
            cwd=REPO,
            check=True,
        )
    return MICRO


def cli_env(home: Path) -> dict[str, str]:
    """A user whose home (and config) is a temporary directory.

    `micro login` waits one second (not the server's five) before each poll, so the test
    approves the code before the first one: SQLite's shared in-memory test database refuses
    ("table is locked") a write from the test thread while a server thread reads.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MICRO_", "DJANGO_", "DATABASE_", "REDIS_"))
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), MICRO_CLI_POLL_INTERVAL="1")
    return env


def run(env: dict[str, str], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(ensure_launcher()), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own console script
        [str(ensure_launcher()), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def credentials_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "micro" / "credentials.json"


def stored(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(credentials_file(env).read_text())


def store(env: dict[str, str], **changes: Any) -> None:
    """Edits the credentials file in place (keeping its mode), as time or an attacker would."""
    path = credentials_file(env)
    data = stored(env)
    data.update(changes)
    path.write_text(json.dumps(data))


class LoginProcess:
    """`micro login` running in the background; `user_code` is what it printed."""

    def __init__(self, env: dict[str, str], server: str) -> None:
        self.process = start(env, "login", "--server", server)
        self.printed = ""
        self.user_code = self._read_user_code()

    def _read_user_code(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
                if not line:
                    break
                self.printed += line
                found = USER_CODE.search(line)
                if found:
                    return found.group(1)
        self.process.kill()
        _, err = self.process.communicate()
        pytest.fail(f"micro login printed no user code: {self.printed!r} {err!r}")

    def finish(self, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        # Not communicate(): it reads the pipes' descriptors and would miss what the text
        # wrapper has buffered past the user code. The few lines left fit in the pipe.
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        assert self.process.stdout is not None and self.process.stderr is not None
        out, err = self.process.stdout.read(), self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        assert "Traceback" not in err, err
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, self.printed + out, err
        )


def approve(user_code: str, user: User, action: str = "accept") -> None:
    """The user enters the code on the device page, signed in to the dashboard, and accepts
    (or denies)."""
    browser = Client()
    browser.force_login(user)
    entered = browser.post("/o/device/", {"user_code": user_code})
    assert entered.status_code == 302, entered.content
    decided = browser.post(
        entered["Location"], device_decision(browser, entered["Location"], action)
    )
    assert decided.status_code == 302, decided.content


def expire(user_code: str) -> None:
    """The code's lifetime runs out before anyone approves it."""
    updated = DeviceGrant.objects.filter(user_code=user_code).update(expires="2000-01-01T00:00:00Z")
    assert updated == 1


def login(env: dict[str, str], server: str, user: User) -> subprocess.CompletedProcess[str]:
    pending = LoginProcess(env, server)
    approve(pending.user_code, user)
    result = pending.finish()
    assert result.returncode == 0, result.stderr
    return result


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
