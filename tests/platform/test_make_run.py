"""`make run PORT=…`: the issuer follows the served address, and a stray host is logged once."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import procs
from tests.conftest import require_component

ROOT = Path(__file__).resolve().parents[2]
# Never rebuilt here: the test runs against the venv it was started from.
PREBUILT = ["-o", ".venv/.runtime", "-o", ".venv/.clients"]


def make_env(**extra: str) -> dict[str, str]:
    """This environment without Django, service, database or make settings, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "MICRO_", "GUNICORN_", "PROMETHEUS_", "MAKE", "MFLAGS"))
        and key not in ("DATABASE_URL", "REDIS_URL", "OBJECTS_DATABASE_URL")
    }
    return {**env, **extra}


def make_dry_run(*args: str, **env: str) -> str:
    make = shutil.which("make")
    require_component(make is not None, "make")
    result = subprocess.run(  # noqa: S603 - a fixed binary and target
        [str(make), "-n", "--no-print-directory", *PREBUILT, "run", *args],
        cwd=ROOT,
        env=make_env(**env),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def test_make_run_derives_the_issuer_from_host_and_port() -> None:
    commands = make_dry_run("PORT=8200")
    served = [line for line in commands.splitlines() if "manage.py" in line]
    # On the loopback address the issuer says localhost: passkeys need a domain name.
    assert served and all("MICRO_ISSUER='http://localhost:8200'" in line for line in served)
    assert "runserver 127.0.0.1:8200" in served[-1]


def test_make_run_keeps_an_issuer_that_is_set() -> None:
    from_env = make_dry_run("PORT=8200", MICRO_ISSUER="https://id.example.com")
    on_the_line = make_dry_run("PORT=8200", "MICRO_ISSUER=https://id.example.com")
    for commands in (from_env, on_the_line):
        assert "MICRO_ISSUER='https://id.example.com'" in commands
        assert "127.0.0.1:8200'" not in commands


def get_json(url: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - a local URL
        url,
        data=json.dumps(data).encode() if data is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.load(response))


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_make_run_on_another_port_issues_tokens_for_that_port(tmp_path: Path) -> None:
    make = shutil.which("make")
    require_component(make is not None, "make")
    port = procs.free_port()
    base_url = f"http://localhost:{port}"
    log_path = tmp_path / "make-run.log"
    env = make_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    command = [str(make), "--no-print-directory", *PREBUILT, "run", f"PORT={port}"]
    with procs.serving(
        command,
        env,
        log_path,
        base_url,
        AssertionError,
        name="make run",
        timeout=180,
        stop=procs.stop_process_group,
    ):
        password = re.search(r"password: (\S+)", log_path.read_text())
        assert password, log_path.read_text()
        discovery = get_json(f"{base_url}/.well-known/openid-configuration")
        assert discovery["issuer"] == base_url
        assert discovery["jwks_uri"] == f"{base_url}/.well-known/jwks.json"
        assert discovery["device_authorization_endpoint"].startswith(f"{base_url}/")
        tokens = get_json(
            f"{base_url}/api/v1/auth/token", {"username": "admin", "password": password[1]}
        )
        assert claims(tokens["access_token"])["iss"] == base_url
        assert "MICRO_ISSUER is" not in log_path.read_text()
        # Who am I (the admin), then Ada by REST and by RPC (the create answer is captured).
        # Then a billing service registered, its role given, and a token for it.
        walkthrough = run_the_readme_walkthrough(base_url, password[1], env)
        assert '"username":"admin"' in walkthrough, walkthrough
        assert walkthrough.count('"username":"ada"') == 2, walkthrough
        assert '{"user":{"id":' in walkthrough.split('"username":"ada"')[1], walkthrough
        assert "create service billing" in walkthrough, walkthrough
        assert walkthrough.rstrip().endswith("billing billing:read profile"), walkthrough
        # The same server reached by its IP address: one warning, however many such requests.
        for _ in range(3):
            get_json(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
        deadline = time.monotonic() + 10
        while "MICRO_ISSUER is" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = log_path.read_text()
    assert log.count("MICRO_ISSUER is") == 1, log[-3000:]
    assert f"host '127.0.0.1:{port}', but MICRO_ISSUER is {base_url}" in log


def run_the_readme_walkthrough(base_url: str, password: str, env: dict[str, str]) -> str:
    """The README's two walkthrough blocks, as a newcomer pastes them in the checkout: only
    PASSWORD and BASE set (and the database `make run` serves, for the manifest command)."""
    curl = shutil.which("curl")
    require_component(curl is not None and shutil.which("bash") is not None, "curl and bash")
    readme = (ROOT / "README.md").read_text()
    walkthrough = readme.split("## Five minutes", 1)[1]
    block, rest = walkthrough.split("```sh\n", 1)[1].split("```", 1)
    block += rest.split("```sh\n", 1)[1].split("```", 1)[0]
    assert "PASSWORD='<printed password>'\n" in block and "BASE=http://localhost:8000\n" in block
    script = block.replace("PASSWORD='<printed password>'", f"PASSWORD='{password}'").replace(
        "BASE=http://localhost:8000", f"BASE={base_url}"
    )
    result = subprocess.run(  # noqa: S603 - bash running the README's own commands
        [str(shutil.which("bash")), "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
