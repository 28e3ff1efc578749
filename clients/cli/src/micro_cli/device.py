"""`micro login`: the OAuth 2.0 device authorization grant (RFC 8628) for the `micro-cli`
public client."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from micro_cli import transport
from micro_cli.errors import CliError
from micro_cli.session import CLIENT_ID, TOKEN_PATH
from micro_cli.transport import Reply

DEVICE_AUTHORIZATION_PATH = "/o/device-authorization/"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LOGIN_SCOPE = "openid profile users:read"
DEFAULT_INTERVAL = 5  # RFC 8628 §3.2: when the server names none
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5
# Tests set this to poll faster; it can only shorten the wait, never stretch it.
POLL_INTERVAL_ENV = "MICRO_CLI_POLL_INTERVAL"


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


def start(server: str, scope: str = LOGIN_SCOPE) -> DeviceAuthorization:
    reply = transport.send(
        "POST",
        server + DEVICE_AUTHORIZATION_PATH,
        server,
        data={"client_id": CLIENT_ID, "scope": scope},
    )
    if not reply.ok or not isinstance(reply.body, dict):
        raise CliError(f"{server} refused the device login: {transport.problem_message(reply)}")
    body = reply.body
    try:
        return DeviceAuthorization(
            device_code=str(body["device_code"]),
            user_code=str(body["user_code"]),
            verification_uri=str(body["verification_uri"]),
            verification_uri_complete=body.get("verification_uri_complete") or None,
            expires_in=int(body["expires_in"]),
            interval=int(body.get("interval") or DEFAULT_INTERVAL),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(f"unexpected device authorization response from {server}") from exc


def poll_override() -> float | None:
    value = os.environ.get(POLL_INTERVAL_ENV)
    try:
        return float(value) if value else None
    except ValueError as exc:
        raise CliError(f"{POLL_INTERVAL_ENV} must be a number of seconds") from exc


def poll(
    ask: Callable[[], Reply],
    *,
    interval: float,
    expires_in: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    shortest: float | None = None,
) -> dict[str, Any]:
    """Asks for the token every `interval` seconds until the user decides or the code expires.

    `slow_down` adds 5 s to the interval for the rest of the login; `shortest` (tests) caps the
    wait below the server's interval. Returns the token response body.
    """
    deadline = clock() + expires_in
    while True:
        sleep(interval if shortest is None else min(interval, shortest))
        reply = ask()
        if reply.ok and isinstance(reply.body, dict):
            return reply.body
        error = reply.field("error")
        if error == "authorization_pending":
            pass
        elif error == "slow_down":
            interval += SLOW_DOWN_STEP
        elif error == "access_denied":
            raise CliError("the login was denied in the browser")
        elif error == "expired_token":
            raise CliError("the code expired before it was approved; run `micro login` again")
        else:
            raise CliError(f"the login failed: {transport.problem_message(reply)}")
        if clock() >= deadline:
            raise CliError("the code expired before it was approved; run `micro login` again")


def token_request(server: str, device_code: str) -> Callable[[], Reply]:
    data = {"grant_type": DEVICE_CODE_GRANT, "device_code": device_code, "client_id": CLIENT_ID}
    return lambda: transport.send("POST", server + TOKEN_PATH, server, data=data)
