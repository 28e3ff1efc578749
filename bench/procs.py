"""Processes for the bench and the load and fault tests: ports, Django commands, gunicorn.

Imported as `procs` by the bench scripts (bench/ is on their path) and as `bench.procs` by
the tests. Standard library only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 30.0
LOG_TAIL_CHARS = 3000


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def django_env(database_url: str, secret: str, port: int, **extra: str) -> dict[str, str]:
    """This environment without its Django settings, plus the production settings of a
    loopback instance on `port` (its issuer) over `database_url`, every app in that one
    database; `extra` (REDIS_URL, token lifetimes…) on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.pop("OBJECTS_DATABASE_URL", None)
    python_path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "micro_platform.settings.production",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secret,
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MICRO_ISSUER": f"http://127.0.0.1:{port}",
            "DATABASE_URL": database_url,
            "PYTHONPATH": os.pathsep.join(python_path),
            **extra,
        }
    )
    return env


def tail(text: str) -> str:
    return text[-LOG_TAIL_CHARS:].rstrip()


def read_tail(path: Path) -> str:
    try:
        return tail(path.read_text(errors="replace"))
    except OSError:
        return "(no log)"


def run_python(what: str, args: Sequence[str], env: dict[str, str], error: type[Exception]) -> str:
    """`python <args>` in the repository; a failure raises `error` with the output's tail."""
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise error(f"{what} failed (exit {proc.returncode}):\n{tail(proc.stderr + proc.stdout)}")
    return proc.stdout


def healthz_status(base_url: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn's graceful shutdown), then SIGKILL to the whole group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group (a `make` and the server it started), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children the leader's exit left behind
    proc.wait()


@contextmanager
def serving(
    command: Sequence[str],
    env: dict[str, str],
    log_path: Path,
    base_url: str,
    error: type[Exception],
    *,
    name: str = "the server",
    timeout: float = STARTUP_TIMEOUT_S,
    stop: Callable[[subprocess.Popen[bytes]], None] = stop_process,
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` in its own process group, logging to `log_path`; yields once `/healthz`
    answers 200 (else raises `error` with the log's tail), stops it with `stop` on exit."""
    with log_path.open("wb") as log:
        # Own session: a Ctrl-C reaches us, and we stop the server in order.
        proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while healthz_status(base_url) != 200:
                if proc.poll() is not None:
                    raise error(f"{name} exited ({proc.returncode}):\n{read_tail(log_path)}")
                if time.monotonic() > deadline:
                    raise error(
                        f"{name} did not answer /healthz in {timeout:.0f} s:\n{read_tail(log_path)}"
                    )
                time.sleep(0.2)
            yield proc
        finally:
            stop(proc)


@contextmanager
def gunicorn(
    args: Sequence[str], env: dict[str, str], log_path: Path, base_url: str, error: type[Exception]
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m gunicorn <args>` (see `serving`), stopped with gunicorn's graceful SIGTERM."""
    with serving(
        [sys.executable, "-m", "gunicorn", *args], env, log_path, base_url, error, name="gunicorn"
    ) as proc:
        yield proc
