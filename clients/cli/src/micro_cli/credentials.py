"""The credentials file: `$XDG_CONFIG_HOME/micro/credentials.json` (default `~/.config`).

The file holds a refresh token, so it is only ever created with mode 0600 in a 0700 directory,
replaced atomically (a reader never sees half a file), and refused when others can read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from micro_cli.errors import CliError

try:  # POSIX only; elsewhere concurrent refreshes simply are not serialized.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "credentials.json"
FIELDS = ("server", "access_token", "refresh_token", "expires_at", "scope")


@dataclass(frozen=True)
class Credentials:
    server: str
    access_token: str
    refresh_token: str
    expires_at: int  # Unix time at which the access token expires
    scope: str

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at - time.time() < seconds


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is invalid, use the default
        base = os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "micro"


def credentials_path() -> Path:
    return config_dir() / FILE_NAME


def _check_private(path: Path) -> None:
    """Refuses a file another user could have read (or planted): the token in it is no
    longer a secret, or not ours."""
    if os.name != "posix":
        return
    info = path.stat()
    if info.st_uid != os.getuid():
        raise CliError(f"{path} belongs to another user; delete it and run `micro login` again")
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise CliError(
            f"{path} is accessible by other users (mode {mode:04o}); "
            f"run `chmod 600 {path}` or delete it and run `micro login` again"
        )


def load() -> Credentials | None:
    """The stored credentials, or None when there is no file."""
    path = credentials_path()
    if not path.exists():
        return None
    _check_private(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(**{name: data[name] for name in FIELDS})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path} is unreadable ({exc}); run `micro login` again") from exc


def save(credentials: Credentials) -> Path:
    """Writes the file atomically: a 0600 temp file in the same directory, then os.replace."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask, and the dir may be old
    path = directory / FILE_NAME
    temp = directory / f".{FILE_NAME}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(credentials), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return path


def delete() -> bool:
    """Removes the file; False when there was none."""
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def refresh_lock() -> Iterator[None]:
    """Serializes refreshes between concurrent `micro` processes: refresh tokens rotate, and
    the server treats a second use of the old one as theft and revokes the whole login."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory / ".refresh.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
