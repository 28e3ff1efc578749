"""Authenticated API calls with the stored login, refreshing the access token when needed."""

from __future__ import annotations

import time
from typing import Any

from micro_cli import credentials as store
from micro_cli import transport
from micro_cli.credentials import Credentials
from micro_cli.errors import CliError
from micro_cli.transport import Reply
from micro_client.contract import CLI_CLIENT_ID as CLIENT_ID

TOKEN_PATH = "/o/token/"  # noqa: S105 - a URL path, not a secret
REFRESH_MARGIN_SECONDS = 30
LOGIN_EXPIRED = "Your login has expired; run `micro login` again."
NOT_LOGGED_IN = "not logged in; run `micro login` first"


def credentials_from_token_reply(
    server: str, body: dict[str, Any], scope: str, refresh_token: str | None = None
) -> Credentials:
    """What a successful `/o/token/` answer stores (device-code and refresh grants alike);
    a refresh answer without a new refresh token keeps `refresh_token`."""
    try:
        return Credentials(
            server=server,
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or refresh_token or body["refresh_token"]),
            expires_at=int(time.time()) + int(body.get("expires_in", 0)),
            scope=str(body.get("scope") or scope),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(f"unexpected token response from {server} (missing {exc})") from exc


class Session:
    """The stored login: sends its access token, and on expiry (or a 401) refreshes it once
    with the refresh token, storing the rotated pair."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds

    @classmethod
    def load(cls) -> Session:
        creds = store.load()
        if creds is None:
            raise CliError(NOT_LOGGED_IN)
        return cls(creds)

    @property
    def server(self) -> str:
        return self.creds.server

    def request(self, method: str, path_or_url: str, **kwargs: Any) -> Reply:
        if self.creds.expires_within(REFRESH_MARGIN_SECONDS):
            self.refresh()
        reply = self._send(method, path_or_url, **kwargs)
        if reply.status == 401:
            self.refresh()
            reply = self._send(method, path_or_url, **kwargs)
        return reply

    def _send(self, method: str, path_or_url: str, **kwargs: Any) -> Reply:
        url = path_or_url if "://" in path_or_url else self.server + path_or_url
        if not transport.same_origin(url, self.server):  # never hand the token elsewhere
            raise CliError(f"refusing to send credentials to {url} (not {self.server})")
        headers = {"Authorization": f"Bearer {self.creds.access_token}"}
        return transport.send(method, url, self.server, headers=headers, **kwargs)

    def refresh(self) -> None:
        """Rotates the token pair. Under a lock, and re-reading the file first: another `micro`
        may have rotated it already, and reusing a rotated refresh token ends the login."""
        with store.refresh_lock():
            current = store.load()
            if current is None:
                raise CliError(NOT_LOGGED_IN)
            if current.refresh_token != self.creds.refresh_token:
                self.creds = current
                return
            reply = transport.send(
                "POST",
                self.server + TOKEN_PATH,
                self.server,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": current.refresh_token,
                    "client_id": CLIENT_ID,
                },
            )
            if reply.field("error") == "invalid_grant":
                raise CliError(LOGIN_EXPIRED)
            if not reply.ok or not isinstance(reply.body, dict):
                raise CliError(f"could not refresh the login: {transport.problem_message(reply)}")
            self.creds = credentials_from_token_reply(
                self.server, reply.body, current.scope, current.refresh_token
            )
            store.save(self.creds)
