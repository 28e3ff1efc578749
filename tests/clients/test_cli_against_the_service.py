"""The `micro` CLI end to end: the installed console script in a subprocess against the live
server."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import requests

import micro_cli
from accounts.models import User
from tests.authn import cli_helpers as cli
from tests.authn.oauth_helpers import ensure_cli_client
from tests.factories import UserFactory

pytestmark = pytest.mark.live


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli.cli_env(tmp_path)


@pytest.fixture
def server(live_server: Any, transactional_db: Any) -> str:
    ensure_cli_client()
    return str(live_server.url)


@pytest.fixture
def alice(transactional_db: Any) -> User:
    return UserFactory.create(username="alice-cli", email="alice-cli@example.com")


@pytest.fixture
def logged_in(env: dict[str, str], server: str, alice: User) -> dict[str, str]:
    cli.login(env, server, alice)
    return env


def test_the_installed_console_script_is_the_cli_package(tmp_path: Path) -> None:
    """`.venv/bin/micro` is the clients/cli console script, no launcher that edits sys.path."""
    launcher = cli.ensure_launcher()
    assert stat.S_IMODE(launcher.stat().st_mode) & 0o111
    assert "micro_cli.main" in launcher.read_text() and "sys.path" not in launcher.read_text()
    env = cli.cli_env(tmp_path)

    version = cli.run(env, "--version")
    assert (version.returncode, version.stdout) == (0, f"micro {micro_cli.__version__}\n")
    helped = cli.run(env, "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("login", "whoami", "user", "keys", "logout"):
        assert command in helped.stdout
    usage = cli.run(env, "keys", "create", "x")
    assert usage.returncode == 2 and "--scope" in usage.stderr


def api(server: str, path: str, **headers: str) -> requests.Response:
    return requests.get(f"{server}{path}", headers=headers, timeout=10)


def test_login_stores_private_credentials_and_whoami_shows_the_account(
    env: dict[str, str], server: str, alice: User
) -> None:
    result = cli.login(env, server, alice)

    code = cli.USER_CODE.search(result.stdout).group(1)  # type: ignore[union-attr]
    assert f"/o/device/?user_code={code})" in result.stdout  # the link with the code filled in
    assert f"Logged in to {server} as alice-cli." in result.stdout
    path = cli.credentials_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    creds = cli.stored(env)
    assert creds["server"] == server
    assert creds["expires_at"] > time.time() + 60
    assert set(creds["scope"].split()) >= {"profile", "users:read"}
    assert api(server, "/api/v1/me", Authorization=f"Bearer {creds['access_token']}").ok
    assert not list(path.parent.glob("*.tmp"))  # the temp file was renamed, not left behind

    whoami = cli.run(env, "whoami")
    assert whoami.returncode == 0, whoami.stderr
    lines = dict(line.split(None, 1) for line in whoami.stdout.splitlines())
    assert lines["username"] == "alice-cli"
    assert lines["id"] == str(alice.pk)
    assert lines["kind"] == "user"
    assert lines["email"] == "alice-cli@example.com"
    assert {"profile", "users:read"} <= set(lines["scopes"].split())

    as_json = cli.run(env, "whoami", "--json")
    assert json.loads(as_json.stdout)["user"]["id"] == str(alice.pk)


def test_logging_in_again_revokes_the_replaced_login(
    logged_in: dict[str, str], server: str, alice: User
) -> None:
    first = cli.stored(logged_in)

    cli.login(logged_in, server, alice)

    assert cli.stored(logged_in)["refresh_token"] != first["refresh_token"]
    bearer = f"Bearer {first['access_token']}"
    assert api(server, "/api/v1/me", Authorization=bearer).status_code == 401
    assert cli.run(logged_in, "whoami").returncode == 0


def test_user_read_by_id_and_by_username(logged_in: dict[str, str], transactional_db: Any) -> None:
    bob = UserFactory.create(username="bob-cli", display_name="Bob")

    by_id = cli.run(logged_in, "user", "read", str(bob.pk))
    assert by_id.returncode == 0, by_id.stderr
    fields = dict(line.split(None, 1) for line in by_id.stdout.splitlines())
    assert fields["username"] == "bob-cli"
    assert fields["display_name"] == "Bob"
    assert "email" not in fields  # someone else's account: the public view

    by_name = cli.run(logged_in, "user", "read", "--username", "BOB-cli", "--json")
    assert by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout)["id"] == str(bob.pk)


def test_user_read_reports_unknown_users_in_one_line(logged_in: dict[str, str]) -> None:
    unknown = cli.run(logged_in, "user", "read", "not-a-user-id")
    assert (unknown.returncode, unknown.stderr) == (1, "micro: error: No user with this id.\n")

    nobody = cli.run(logged_in, "user", "read", "--username", "nobody-here")
    assert (nobody.returncode, nobody.stderr) == (1, "micro: error: no user named 'nobody-here'\n")


def test_keys_create_list_revoke_and_the_key_works_until_revoked(
    logged_in: dict[str, str], server: str, alice: User
) -> None:
    created = cli.run(
        logged_in, "keys", "create", "deploy", "--scope", "users:read", "--expires-in-days", "7"
    )
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(None, 1) for line in created.stdout.splitlines()[:-1])
    key, key_id = fields["key"], fields["id"]
    assert key.startswith("mk_") and fields["scopes"] == "users:read"
    assert api(server, f"/api/v1/users/{alice.pk}", **{"X-API-Key": key}).status_code == 200

    listed = cli.run(logged_in, "keys", "list", "--json")
    [row] = [row for row in json.loads(listed.stdout) if row["id"] == key_id]
    assert row["name"] == "deploy" and row["revoked_at"] is None and "key" not in row
    table = cli.run(logged_in, "keys", "list").stdout
    assert key_id in table and "active" in table and key not in table

    revoked = cli.run(logged_in, "keys", "revoke", key_id)
    assert (revoked.returncode, revoked.stdout) == (0, f"Revoked API key {key_id}.\n")
    assert api(server, f"/api/v1/users/{alice.pk}", **{"X-API-Key": key}).status_code == 401
    [row] = json.loads(cli.run(logged_in, "keys", "list", "--json").stdout)
    assert row["revoked_at"] is not None


def test_keys_create_beyond_the_login_scopes_prints_the_problem(
    logged_in: dict[str, str],
) -> None:
    result = cli.run(logged_in, "keys", "create", "admin", "--scope", "api_admin")

    assert result.returncode == 1
    assert result.stderr.startswith("micro: error: ") and "api_admin" in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_expiring_access_token_is_refreshed_and_the_pair_rotated(
    logged_in: dict[str, str], server: str
) -> None:
    before = cli.stored(logged_in)
    cli.store(logged_in, expires_at=int(time.time()) + 5)  # under the 30 s margin

    result = cli.run(logged_in, "whoami")

    assert result.returncode == 0, result.stderr
    after = cli.stored(logged_in)
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert after["expires_at"] > time.time() + 60
    path = cli.credentials_file(logged_in)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old_refresh = requests.post(
        f"{server}/o/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": before["refresh_token"],
            "client_id": "micro-cli",
        },
        timeout=10,
    )
    assert old_refresh.status_code == 400  # rotated: the old refresh token is spent


def test_a_rejected_access_token_is_refreshed_once_and_the_request_retried(
    logged_in: dict[str, str],
) -> None:
    before = cli.stored(logged_in)
    cli.store(logged_in, access_token="not-a-token")

    result = cli.run(logged_in, "whoami", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["user"]["username"] == "alice-cli"
    assert cli.stored(logged_in)["refresh_token"] != before["refresh_token"]


def test_concurrent_commands_share_one_refresh(logged_in: dict[str, str]) -> None:
    """Refresh tokens rotate: were two processes to refresh with the same one, the second
    would present a spent token and end the login."""
    before = cli.stored(logged_in)
    cli.store(logged_in, expires_at=int(time.time()) - 1)

    running = [cli.start(logged_in, "whoami") for _ in range(4)]
    results = [process.communicate(timeout=30) for process in running]

    assert [process.returncode for process in running] == [0, 0, 0, 0], results
    assert cli.stored(logged_in)["refresh_token"] != before["refresh_token"]
    assert cli.run(logged_in, "whoami").returncode == 0


def test_a_revoked_login_asks_to_log_in_again(logged_in: dict[str, str], server: str) -> None:
    creds = cli.stored(logged_in)
    revoked = requests.post(
        f"{server}/o/revoke_token/",
        data={"token": creds["refresh_token"], "client_id": "micro-cli"},
        timeout=10,
    )
    assert revoked.status_code == 200
    cli.store(logged_in, expires_at=int(time.time()) - 1)

    result = cli.run(logged_in, "whoami")

    assert (result.returncode, result.stdout, result.stderr) == (1, "", cli.EXPIRED_LOGIN)


def test_the_printed_code_is_grouped_and_may_be_typed_in_lower_case_without_the_hyphen(
    env: dict[str, str], server: str, alice: User
) -> None:
    pending = cli.LoginProcess(env, server)
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", pending.user_code)
    cli.approve(pending.user_code.lower().replace("-", " "), alice)

    result = pending.finish()

    assert result.returncode == 0, result.stderr
    assert f"Logged in to {server} as alice-cli." in result.stdout


def test_a_denied_device_login_fails_cleanly(env: dict[str, str], server: str, alice: User) -> None:
    pending = cli.LoginProcess(env, server)
    cli.approve(pending.user_code, alice, action="deny")

    result = pending.finish()

    assert result.returncode == 1
    assert result.stderr == "micro: error: the login was denied in the browser\n"
    assert not cli.credentials_file(env).exists()


def test_an_expired_device_code_fails_cleanly(
    env: dict[str, str], server: str, transactional_db: Any
) -> None:
    pending = cli.LoginProcess(env, server)
    cli.expire(pending.user_code)

    result = pending.finish()

    assert result.returncode == 1
    assert "expired before it was approved" in result.stderr
    assert not cli.credentials_file(env).exists()


def test_login_against_an_unreachable_server_says_so(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{cli.closed_port()}"

    result = cli.run(env, "login", "--server", url)

    assert (result.returncode, result.stderr) == (
        1,
        f"micro: error: cannot reach {url}: connection refused\n",
    )


def test_login_defaults_to_micro_server(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{cli.closed_port()}"

    result = cli.run({**env, "MICRO_SERVER": url}, "login")

    assert (result.returncode, result.stderr) == (
        1,
        f"micro: error: cannot reach {url}: connection refused\n",
    )


def test_commands_against_an_unreachable_server_say_so(
    logged_in: dict[str, str],
) -> None:
    url = f"http://127.0.0.1:{cli.closed_port()}"
    cli.store(logged_in, server=url)

    result = cli.run(logged_in, "keys", "list")

    assert (result.returncode, result.stderr) == (
        1,
        f"micro: error: cannot reach {url}: connection refused\n",
    )


def test_logout_revokes_the_login_on_the_server_and_deletes_the_file(
    logged_in: dict[str, str], server: str
) -> None:
    creds = cli.stored(logged_in)

    result = cli.run(logged_in, "logout")

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"Logged out of {server}.\n"
    assert not cli.credentials_file(logged_in).exists()
    refreshed = requests.post(
        f"{server}/o/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": creds["refresh_token"],
            "client_id": "micro-cli",
        },
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    bearer = f"Bearer {creds['access_token']}"
    assert api(server, "/api/v1/me", Authorization=bearer).status_code == 401  # its access token
    assert cli.run(logged_in, "whoami").returncode == 1


def test_logout_offline_deletes_the_file_and_warns(logged_in: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{cli.closed_port()}"
    cli.store(logged_in, server=url)

    result = cli.run(logged_in, "logout")

    assert result.returncode == 0
    assert f"cannot reach {url}: connection refused" in result.stderr
    assert "could not be told" in result.stderr
    assert not cli.credentials_file(logged_in).exists()


def test_commands_without_a_login_ask_for_one(env: dict[str, str]) -> None:
    for command in (["whoami"], ["user", "read", "x"], ["keys", "list"]):
        result = cli.run(env, *command)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "micro: error: not logged in; run `micro login` first\n"
    assert cli.run(env, "logout").stdout == "Not logged in.\n"


def test_a_credentials_file_others_can_read_is_refused(logged_in: dict[str, str]) -> None:
    path = cli.credentials_file(logged_in)
    path.chmod(0o644)

    result = cli.run(logged_in, "whoami")

    assert result.returncode == 1
    assert "accessible by other users (mode 0644)" in result.stderr
