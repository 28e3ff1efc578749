"""deploy/systemd: the app unit runs the production entrypoint, the timer the cleanup."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_component

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
CHECKOUT = "/srv/micro"  # where the units expect the checkout


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file as {section: [(key, value), ...]}, repeated keys kept in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if header := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(header[1], [])
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep, f"{name}: {raw!r} outside a section or not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [value for k, value in section if k == key]


def one(section: list[tuple[str, str]], key: str) -> str:
    (value,) = values(section, key)
    return value


def in_checkout(path: str) -> Path:
    assert path.startswith(CHECKOUT + "/"), path
    return ROOT / path.removeprefix(CHECKOUT + "/")


@pytest.mark.parametrize("name", ["micro.service", "micro-cleanup.service"])
def test_each_service_runs_as_an_unprivileged_user_from_the_checkout(name: str) -> None:
    service = unit(name)["Service"]
    assert one(service, "User") not in ("", "root", "0")
    assert one(service, "Group") not in ("", "root", "0")
    assert one(service, "WorkingDirectory") == CHECKOUT
    assert one(service, "EnvironmentFile") == "/etc/micro/micro.env"
    assert "DJANGO_SETTINGS_MODULE=micro_platform.settings.production" in values(
        service, "Environment"
    )
    assert one(service, "NoNewPrivileges") == "yes"
    assert one(service, "ProtectSystem") == "strict"
    assert one(service, "CapabilityBoundingSet") == ""
    for path in values(service, "ReadWritePaths"):
        assert path.startswith(f"{CHECKOUT}/var"), path  # never the code


def test_the_app_service_starts_the_production_entrypoint() -> None:
    app = unit("micro.service")
    service = app["Service"]
    entrypoint = in_checkout(one(service, "ExecStart"))
    assert entrypoint == ROOT / "deploy" / "start"
    assert entrypoint.is_file() and entrypoint.stat().st_mode & 0o111
    # deploy/start execs gunicorn, which reports readiness to systemd as the main process.
    assert (one(service, "Type"), one(service, "NotifyAccess")) == ("notify", "main")
    assert one(service, "KillMode") == "mixed"  # SIGTERM to gunicorn: its graceful stop
    assert int(one(service, "TimeoutStopSec")) > 30  # gunicorn's graceful_timeout
    assert one(service, "Restart") == "on-failure"
    assert in_checkout(one(service, "ReadWritePaths")) == ROOT / "var"
    assert one(app["Install"], "WantedBy") == "multi-user.target"


def test_the_timer_runs_the_cleanup_command_hourly() -> None:
    timer = unit("micro-cleanup.timer")
    assert one(timer["Timer"], "Unit") == "micro-cleanup.service"
    assert one(timer["Timer"], "OnCalendar") == "hourly"
    assert one(timer["Timer"], "Persistent") == "true"
    assert one(timer["Install"], "WantedBy") == "timers.target"
    service = unit("micro-cleanup.service")["Service"]
    assert one(service, "Type") == "oneshot"
    python, manage, command = one(service, "ExecStart").split()
    assert in_checkout(python) == ROOT / ".venv" / "bin" / "python" and manage == "manage.py"
    assert (ROOT / "authn" / "management" / "commands" / f"{command}.py").is_file()
    assert "Install" not in unit("micro-cleanup.service")  # started by the timer only


def test_the_example_environment_holds_only_documented_placeholders() -> None:
    documented = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    for line in (UNITS / "micro.env.example").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert f"`{key}`" in documented, key
        if key == "DJANGO_SECRET_KEY" or "://" in value and "@" in value:
            assert "change-me" in value, f"{key} must be a placeholder"


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require_component(analyze is not None, "systemd-analyze (Debian's systemd)")
    names = sorted(path.name for path in UNITS.glob("micro*.*") if path.suffix != ".example")
    for name in names:  # pointed at this checkout, so the commands it names must exist
        text = (UNITS / name).read_text().replace(CHECKOUT, str(ROOT))
        (tmp_path / name).write_text(text)
    result = subprocess.run(  # noqa: S603 - a fixed binary on our own files
        [str(analyze), "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Unknown keys or a missing command are only warnings on stderr: none is allowed.
    assert result.returncode == 0 and result.stderr == "", result.stderr
