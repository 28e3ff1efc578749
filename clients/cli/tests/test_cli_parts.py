"""The `micro` CLI's parts without a server: device-flow polling, the credentials file, its
independence from Django, and its entry point."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

import micro_cli
from micro_cli import commands, credentials, device, main, session, transport
from micro_cli.errors import CliError
from micro_cli.transport import Reply, problem_message
from micro_client import contract


class FakeClock:
    """Time that passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def replies(*bodies: Mapping[str, object]) -> Iterator[Reply]:
    for body in bodies:
        yield Reply(status=200 if "access_token" in body else 400, body=body)


def poll(answers: Iterator[Reply], clock: FakeClock, **kwargs: float) -> dict[str, object]:
    options: dict[str, float] = {"interval": 5, "expires_in": 600, **kwargs}
    return device.poll(lambda: next(answers), sleep=clock.sleep, clock=clock.clock, **options)


PENDING = {"error": "authorization_pending"}


def test_poll_waits_the_server_interval_until_approved() -> None:
    clock = FakeClock()
    answers = replies(PENDING, PENDING, {"access_token": "a", "refresh_token": "r"})

    assert poll(answers, clock)["access_token"] == "a"
    assert clock.sleeps == [5, 5, 5]


def test_poll_slows_down_by_five_seconds_each_time_asked() -> None:
    clock = FakeClock()
    slow = {"error": "slow_down"}
    answers = replies(slow, PENDING, slow, {"access_token": "a", "refresh_token": "r"})

    poll(answers, clock)

    assert clock.sleeps == [5, 10, 10, 15]


def test_poll_override_only_ever_shortens_the_wait() -> None:
    clock = FakeClock()
    poll(replies(PENDING, {"access_token": "a"}), clock, shortest=0.05)
    assert clock.sleeps == [0.05, 0.05]

    clock = FakeClock()
    poll(replies(PENDING, {"access_token": "a"}), clock, interval=2, shortest=30)
    assert clock.sleeps == [2, 2]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("access_denied", "the login was denied in the browser"),
        ("expired_token", "the code expired before it was approved"),
        ("invalid_client", "the login failed: invalid_client"),
    ],
)
def test_poll_stops_on_a_final_error(error: str, message: str) -> None:
    with pytest.raises(CliError, match=message):
        poll(replies(PENDING, {"error": error}), FakeClock())


def test_poll_gives_up_when_the_code_expires() -> None:
    clock = FakeClock()
    with pytest.raises(CliError, match="expired before it was approved"):
        poll(replies(*[PENDING] * 10), clock, expires_in=12)
    assert clock.sleeps == [5, 5, 5]


def test_problem_message_reads_detail_field_errors_and_oauth_errors() -> None:
    problem = {
        "detail": "The request is invalid; see `errors`.",
        "errors": {"scopes": {"1": ["Not held: x."]}, "name": ["Required.", "Too short."]},
    }
    assert problem_message(Reply(400, problem)) == (
        "The request is invalid: scopes: Not held: x.; name: Required. Too short."
    )
    assert problem_message(Reply(404, {"detail": "No user\nwith this id."})) == (
        "No user with this id."
    )
    oauth = {"error": "invalid_grant", "error_description": "Token revoked"}
    assert problem_message(Reply(400, oauth)) == "Token revoked"
    assert problem_message(Reply(502, None)) == "the server answered HTTP 502 Bad Gateway"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def sample() -> credentials.Credentials:
    return credentials.Credentials(
        server="http://127.0.0.1:1",
        access_token="at",
        refresh_token="rt",
        expires_at=2_000_000_000,
        scope="openid profile users:read",
    )


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # a new file would be 0644 without the explicit mode
    yield
    os.umask(previous)


@pytest.mark.usefixtures("usual_umask")
def test_credentials_are_written_private_under_xdg_config_home(config_home: Path) -> None:
    path = credentials.save(sample())

    assert path == config_home / "micro" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["refresh_token"] == "rt"
    assert credentials.load() == sample()
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]


def test_credentials_default_to_home_dot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert credentials.credentials_path() == tmp_path / ".config" / "micro" / "credentials.json"


def test_replacing_credentials_tightens_a_loose_directory(config_home: Path) -> None:
    (config_home / "micro").mkdir(parents=True, mode=0o755)
    (config_home / "micro").chmod(0o755)

    credentials.save(sample())

    assert stat.S_IMODE((config_home / "micro").stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_credentials_others_can_read_are_refused(config_home: Path, mode: int) -> None:
    path = credentials.save(sample())
    path.chmod(mode)

    with pytest.raises(CliError, match=f"accessible by other users \\(mode {mode:04o}\\)"):
        credentials.load()


def test_a_damaged_credentials_file_is_reported(config_home: Path) -> None:
    path = credentials.save(sample())
    path.write_text("{not json")

    with pytest.raises(CliError, match="unreadable"):
        credentials.load()


def test_the_cli_imports_neither_django_nor_the_service() -> None:
    code = (
        "import sys, micro_cli.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'django', 'rest_framework', 'accounts', 'authn', 'micro_platform',"
        " 'oauth2_provider'}))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_server_that_never_answers_times_out_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", 0.2)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(CliError) as caught:
            transport.send("GET", f"{url}/api/v1/me", url)
    assert str(caught.value) == f"cannot reach {url}: no answer within 0.2 s"
    assert time.monotonic() - started < 5


def test_a_relative_xdg_config_home_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))

    assert credentials.config_dir() == tmp_path / ".config" / "micro"


def test_an_unexpected_failure_is_one_line_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise ValueError("boom")

    monkeypatch.setattr(commands, "whoami", broken)
    monkeypatch.delenv(main.DEBUG_ENV, raising=False)

    assert main.main(["whoami"]) == 1
    assert capsys.readouterr().err == (
        "micro: error: unexpected failure (ValueError: boom); set MICRO_CLI_DEBUG=1 for details\n"
    )


def test_key_states_read_revocation_then_expiry() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert commands.key_state({"revoked_at": "2029-01-01T00:00:00Z"}, now) == "revoked"
    assert commands.key_state({"expires_at": "2029-12-31T23:59:59Z"}, now) == "expired"
    assert commands.key_state({"expires_at": "2030-01-01T00:00:01.5Z"}, now) == "active"
    assert commands.key_state({"expires_at": None}, now) == "?"


def test_a_refresh_answer_without_a_new_refresh_token_keeps_the_old_one() -> None:
    body = {"access_token": "new", "expires_in": 600}

    kept = session.credentials_from_token_reply("http://s", body, "profile", "old-refresh")

    assert (kept.access_token, kept.refresh_token, kept.scope) == ("new", "old-refresh", "profile")
    with pytest.raises(CliError, match="unexpected token response"):
        session.credentials_from_token_reply("http://s", body, "profile")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["keys"],
        ["keys", "create", "ci"],  # no --scope
        ["keys", "create", "ci", "--scope", "users:read", "--expires-in-days", "0"],
        ["keys", "create", "ci", "--scope", "users:read", "--expires-in-days", "soon"],
        ["user", "read"],  # neither an id nor --username
        ["user", "read", "some-id", "--username", "ada"],
    ],
)
def test_invalid_usage_exits_with_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(argv)

    assert exited.value.code == 2
    assert "usage: micro" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"micro {micro_cli.__version__}\n"


def test_the_cli_logs_in_as_the_contracts_client() -> None:
    assert session.CLIENT_ID == contract.CLI_CLIENT_ID == "micro-cli"


def test_python_dash_m_runs_the_same_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "micro_cli", "--help"], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    for command in ("login", "whoami", "user", "keys", "logout"):
        assert command in result.stdout


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs `micro` sends to; the device login is refused by this fake at once."""
    urls: list[str] = []

    def send(method: str, url: str, server: str, **kwargs: object) -> Reply:
        urls.append(url)
        return Reply(status=400, body={"error": "invalid_client"})

    monkeypatch.setattr(transport, "send", send)
    return urls


@pytest.mark.parametrize("server", ["http://id.example.com", "http://10.0.0.5:8000"])
def test_login_over_plain_http_to_another_host_is_refused_before_sending_anything(
    server: str, sent: list[str], config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(["login", "--server", server]) == 1

    assert sent == []
    assert "refusing to sign in to" in capsys.readouterr().err


def test_login_over_plain_http_elsewhere_goes_on_when_the_user_opts_in(
    sent: list[str], config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = "http://id.example.com"

    main.main(["login", "--server", server, "--allow-insecure-http"])

    assert sent == [server + device.DEVICE_AUTHORIZATION_PATH]
    assert "plain HTTP: the tokens travel unencrypted" in capsys.readouterr().err


@pytest.mark.parametrize("server", ["https://id.example.com", "http://127.0.0.1:8000"])
def test_login_over_https_or_to_this_machine_needs_no_opt_in(
    server: str, sent: list[str], config_home: Path
) -> None:
    main.main(["login", "--server", server])

    assert sent == [server + device.DEVICE_AUTHORIZATION_PATH]


class PagedSession:
    """A stored login whose lists answer `pages[url]`; it fails the test past 300 requests."""

    server = "https://id.example.com"

    def __init__(self, answers: dict[str, dict[str, object]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def request(self, method: str, url: str, **kwargs: object) -> Reply:
        self.asked.append(url)
        assert len(self.asked) <= 300, "the pages were followed without end"
        return Reply(status=200, body=self.answers[url])


def key_pages(count: int) -> dict[str, dict[str, object]]:
    """`count` pages of one key each, linked by `next`."""
    url = "/api/v1/api-keys"
    answers: dict[str, dict[str, object]] = {}
    for number in range(count):
        following = f"https://id.example.com/api/v1/api-keys?cursor={number + 1}"
        answers[url] = {
            "results": [{"id": f"key-{number}"}],
            "next": following if number + 1 < count else None,
        }
        url = following
    return answers


def test_keys_list_reads_every_page_however_many(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paged = PagedSession(key_pages(150))
    monkeypatch.setattr(session.Session, "load", classmethod(lambda cls: paged))

    assert main.main(["keys", "list", "--json"]) == 0

    listed = json.loads(capsys.readouterr().out)
    assert [key["id"] for key in listed] == [f"key-{number}" for number in range(150)]


def test_a_list_whose_pages_loop_is_an_error_not_an_endless_wait(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = "/api/v1/users?page_size=100"
    second = "https://id.example.com/api/v1/users?cursor=b"
    third = "https://id.example.com/api/v1/users?cursor=c"
    paged = PagedSession(
        {
            first: {"results": [], "next": second},
            second: {"results": [], "next": third},
            third: {"results": [], "next": second},
        }
    )
    monkeypatch.setattr(session.Session, "load", classmethod(lambda cls: paged))

    assert main.main(["users", "list"]) == 1

    assert capsys.readouterr().err == f"micro: error: the server's pages lead back to {second}\n"
    assert paged.asked == [first, second, third]
