"""The shipped nginx `auth_request` configuration, run in a real nginx in front of a live
server and a backend that echoes the headers it receives."""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from accounts.models import User
from authn.api_keys.services import api_key_create
from authn.tokens.authentication import principal_from_claims
from authn.tokens.jwt import upstream_token_decode
from tests.conftest import require_component, token_for

pytestmark = pytest.mark.live

SHIPPED = Path(__file__).resolve().parents[3] / "deploy" / "nginx" / "micro-gateway.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every method with the request's headers as JSON, and records them."""

    seen: list[dict[str, str]] = []

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {name.lower(): value for name, value in self.headers.items()}
        type(self).seen.append(headers)
        payload = json.dumps({"headers": headers, "body": body, "method": self.command}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def backend() -> Iterator[int]:
    EchoHandler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def nginx_conf(tmp: Path, *, port: int, micro_port: int, backend_port: int) -> str:
    temp_paths = "\n".join(
        f"  {name}_temp_path {tmp}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
user {getpass.getuser()};
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
{temp_paths}
  upstream micro_auth {{ server 127.0.0.1:{micro_port}; }}
  upstream app_backend {{ server 127.0.0.1:{backend_port}; }}
  map $request_uri $micro_required_scopes {{
    default "";
    ~^/write "users:write";
  }}
  server {{
    listen 127.0.0.1:{port};
    include {SHIPPED};
  }}
}}
"""


def wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited: {log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("nginx did not start listening")


@pytest.fixture
def gateway(live_server: Any, backend: int, tmp_path: Path) -> Iterator[str]:
    require_component(NGINX is not None, "nginx")
    port = free_port()
    micro_port = int(live_server.url.rsplit(":", 1)[1])
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(tmp_path, port=port, micro_port=micro_port, backend_port=backend))
    log = tmp_path / "error.log"
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and a generated config
        [str(NGINX), "-p", str(tmp_path), "-c", str(conf), "-e", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


def test_valid_token_reaches_the_backend_with_the_identity(
    transactional_db: Any, user: User, gateway: str
) -> None:
    token = token_for(user, frozenset({"profile", "users:read"}))
    response = get(f"{gateway}/anything?x=1", Authorization=f"Bearer {token}")
    assert response.status_code == 200
    seen = response.json()["headers"]
    assert seen["x-user-id"] == str(user.pk)
    assert seen["x-user-name"] == user.username
    assert seen["x-user-kind"] == "user"
    assert seen["x-user-scopes"] == "profile users:read"
    assert seen["x-auth-method"] == "jwt"
    assert principal_from_claims(upstream_token_decode(seen["x-user-token"])).user_id == user.pk
    assert "authorization" not in seen  # the upstream gets the identity, not the credential


def test_api_key_reaches_the_backend(transactional_db: Any, user: User, gateway: str) -> None:
    key = api_key_create(
        owner=user, name="gw", scopes=["users:read"], expires_in_days=1, actor=None
    ).key
    response = requests.post(
        f"{gateway}/items", data="payload", headers={"X-API-Key": key}, timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    assert body["headers"]["x-auth-method"] == "api_key"
    assert body["body"] == "payload" and body["method"] == "POST"
    assert "x-api-key" not in body["headers"]


def test_no_credential_is_401_and_never_reaches_the_backend(
    transactional_db: Any, gateway: str
) -> None:
    response = get(f"{gateway}/anything", **{"X-User-Id": "00000000-0000-0000-0000-000000000001"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert EchoHandler.seen == []


def test_invalid_credential_is_401(transactional_db: Any, gateway: str) -> None:
    assert get(f"{gateway}/x", Authorization="Bearer nonsense").status_code == 401
    assert get(f"{gateway}/x", **{"X-API-Key": "mk_0123456789ab_" + "A" * 43}).status_code == 401
    assert EchoHandler.seen == []


def test_missing_scope_is_403(
    transactional_db: Any, user: User, admin_user: User, gateway: str
) -> None:
    response = get(f"{gateway}/write/1", Authorization=f"Bearer {token_for(user)}")
    assert response.status_code == 403
    assert EchoHandler.seen == []
    allowed = get(f"{gateway}/write/1", Authorization=f"Bearer {token_for(admin_user)}")
    assert allowed.status_code == 200


def test_spoofed_identity_headers_never_reach_the_backend(
    transactional_db: Any, user: User, other_user: User, gateway: str
) -> None:
    spoofed = {
        "X-User-Id": str(other_user.pk),
        "X-User-Name": other_user.username,
        "X-User-Scopes": "api_admin",
        "X-User-Groups": "00000000-0000-0000-0000-000000000009",
        "X-Auth-Method": "session",
        "X-User-Token": "forged",
        "X-Required-Scopes": "",
    }
    token = token_for(user, frozenset({"profile"}))
    response = get(f"{gateway}/me", Authorization=f"Bearer {token}", **spoofed)
    seen = response.json()["headers"]
    assert seen["x-user-id"] == str(user.pk)
    assert seen["x-user-name"] == user.username
    assert seen["x-user-scopes"] == "profile"
    assert seen["x-auth-method"] == "jwt"
    assert "x-user-groups" not in seen  # empty for this user: the spoofed value is removed
    assert seen["x-user-token"] != "forged"
    # A client cannot lift a path's scope requirement by sending the header itself.
    denied = get(f"{gateway}/write/1", Authorization=f"Bearer {token}", **spoofed)
    assert denied.status_code == 403
