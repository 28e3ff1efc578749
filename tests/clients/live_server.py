"""A real Micro server for the SDKs' live tests: gunicorn on a SQLite file of its own.

`live_server()` migrates a fresh database in a temporary folder, makes a signing key, seeds an
ordinary user and a service account holding `api_admin` (with an API key and an OAuth
client), serves the production settings with gunicorn on a loopback port, and yields the
environment every SDK's live tests read (`MICRO_LIVE_*`, see `LiveServer.env`). The SDKs' live
tests skip without `MICRO_LIVE_URL`; tests/clients/test_sdk_live.py runs each of them under this
server.

By hand, to develop an SDK against a running server:

    .venv/bin/python -m tests.clients.live_server --port 8341 --env-file /tmp/live.env
    # in another shell: . /tmp/live.env && (cd clients/go && go test -run Live ./...)

It prints the same variables as `export` lines and serves until interrupted.

With `relying_party=OidcRelyingParty(...)` it also registers a confidential OpenID Connect
client (authorization code, RS256 ID tokens) with the given redirect URIs and seeds users
with verified emails: the federation tests (tests/federation) sign in to another instance
through this one (`MICRO_LIVE_OIDC_CLIENT_ID`, `MICRO_LIVE_OIDC_CLIENT_SECRET`; the users'
password is `MICRO_LIVE_PASSWORD`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bench import procs

USERNAME = "sdk-alice"
ADMIN_ACCOUNT = "sdk-admin"
ACCESS_AUDIENCE = "micro"
UPSTREAM_AUDIENCE = "micro-upstream"
WORKERS = 2


OIDC_CLIENT_NAME = "federation-relying-party"

# Users with verified emails for a relying party, one JSON argument: [[username, email], ...].
_SEED_VERIFIED_USERS = """
import json, sys
import django
django.setup()
from accounts.models import User
password, users = sys.argv[1], json.loads(sys.argv[2])
for username, email in users:
    user = User(username=username, email=email, email_verified=True)
    user.set_password(password)
    user.save()
"""


class LiveServerError(RuntimeError):
    """The live server could not be set up or did not start."""


@dataclass(frozen=True)
class OidcRelyingParty:
    """An OpenID Connect client to register on the live server, and users to sign in with it
    (username, email; each email verified, each password the seeded one)."""

    redirect_uris: tuple[str, ...]
    users: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: dict[str, str]
    log: Path


def _python(what: str, args: list[str], env: dict[str, str]) -> str:
    return procs.run_python(what, args, env, LiveServerError)


def _last_json(output: str) -> dict[str, str]:
    return dict(json.loads(output.strip().splitlines()[-1]))


def _rotate_script(path: Path, env: dict[str, str]) -> Path:
    """An executable that rotates this server's signing key: the SDKs' live tests run it to
    see a new key picked up without a restart."""
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    path.write_text(
        "#!/bin/sh\n"
        "set -e\n"
        f"{exports}"
        f"cd {shlex.quote(str(procs.ROOT))}\n"
        f"exec {shlex.quote(sys.executable)} manage.py rotate_signing_key >/dev/null\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _seed_relying_party(
    relying_party: OidcRelyingParty, password: str, env: dict[str, str]
) -> dict[str, str]:
    """Registers the relying party's client and users; returns its `MICRO_LIVE_OIDC_*`."""
    client_id = f"rp-{secrets.token_hex(8)}"
    client_secret = secrets.token_urlsafe(32)
    _python(
        "createapplication",
        [
            "manage.py",
            "createapplication",
            "confidential",
            "authorization-code",
            f"--client-id={client_id}",
            f"--client-secret={client_secret}",
            f"--name={OIDC_CLIENT_NAME}",
            "--algorithm=RS256",
            f"--redirect-uris={' '.join(relying_party.redirect_uris)}",
        ],
        env,
    )
    if relying_party.users:
        users = json.dumps([list(user) for user in relying_party.users])
        _python("seed verified users", ["-c", _SEED_VERIFIED_USERS, password, users], env)
    return {"MICRO_LIVE_OIDC_CLIENT_ID": client_id, "MICRO_LIVE_OIDC_CLIENT_SECRET": client_secret}


@contextmanager
def live_server(
    workdir: Path,
    port: int | None = None,
    database_url: str | None = None,
    *,
    relying_party: OidcRelyingParty | None = None,
) -> Iterator[LiveServer]:
    """A migrated, seeded server on `port` (a free one by default) until the block ends, on
    `database_url` (an empty database) or a SQLite file in `workdir`; with `relying_party`,
    its OpenID Connect client and users too."""
    port = port or procs.free_port()
    env = procs.django_env(
        database_url or f"sqlite:///{workdir / 'micro.sqlite3'}",
        secrets.token_urlsafe(48),
        port,
        DJANGO_STATIC_ROOT=str(workdir / "static"),
        MICRO_TOKEN_AUDIENCE=ACCESS_AUDIENCE,
        MICRO_UPSTREAM_TOKEN_AUDIENCE=UPSTREAM_AUDIENCE,
        # Every worker signs with a rotated key within a second (the live tests rotate one).
        MICRO_SIGNING_KEY_REFRESH_SECONDS="1",
    )
    env.pop("REDIS_URL", None)  # the database cache is shared by the workers
    _python("migrate", ["manage.py", "migrate", "--noinput"], env)
    _python("rotate_signing_key", ["manage.py", "rotate_signing_key"], env)
    # gunicorn refuses to start without the static manifest (micro_platform.checks).
    _python("collectstatic", ["manage.py", "collectstatic", "--noinput"], env)
    password = secrets.token_urlsafe(18)
    _python("seed", ["bench/load_seed.py", f"--password={password}", USERNAME], env)
    admin = _last_json(
        _python(
            "createserviceaccount",
            [
                "manage.py",
                "createserviceaccount",
                ADMIN_ACCOUNT,
                "--scope",
                "api_admin",
                "--api-key",
                "--oauth-client",
                "--json",
            ],
            env,
        )
    )
    rotate = _rotate_script(workdir / "rotate-signing-key", env)
    url = f"http://127.0.0.1:{port}"
    args = ["-m", "gunicorn", "micro_platform.wsgi", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}"]
    args += ["--timeout", "60", "--graceful-timeout", "5"]
    log = workdir / "gunicorn.log"
    live_env = {
        "MICRO_LIVE_URL": url,
        "MICRO_LIVE_AUDIENCE": ACCESS_AUDIENCE,
        "MICRO_LIVE_UPSTREAM_AUDIENCE": UPSTREAM_AUDIENCE,
        "MICRO_LIVE_USERNAME": USERNAME,
        "MICRO_LIVE_PASSWORD": password,
        "MICRO_LIVE_ADMIN_API_KEY": admin["api_key"],
        "MICRO_LIVE_CLIENT_ID": admin["client_id"],
        "MICRO_LIVE_CLIENT_SECRET": admin["client_secret"],
        "MICRO_LIVE_ROTATE": str(rotate),
    }
    if relying_party is not None:
        live_env |= _seed_relying_party(relying_party, password, env)
    with procs.serving([sys.executable, *args], env, log, url, LiveServerError, name="gunicorn"):
        yield LiveServer(url=url, env=live_env, log=log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--env-file", type=Path, help="also write the `export` lines here")
    args = parser.parse_args()
    # Stopped by SIGTERM as by Ctrl-C: both end the block below, which stops gunicorn.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    with tempfile.TemporaryDirectory(prefix="micro-live-") as folder:
        print("setting up a fresh server (migrate, signing key, seed)...", file=sys.stderr)
        with live_server(Path(folder), args.port) as server:
            exports = "".join(
                f"export {name}={shlex.quote(value)}\n" for name, value in server.env.items()
            )
            if args.env_file:
                args.env_file.write_text(exports)
                os.chmod(args.env_file, 0o600)
            sys.stdout.write(exports)
            sys.stdout.flush()
            print(f"serving on {server.url} (log: {server.log}); Ctrl-C stops", file=sys.stderr)
            with suppress(KeyboardInterrupt):
                signal.pause()


if __name__ == "__main__":
    main()
