"""What `MicroClient` authenticates with: a fixed token, an API key exchanged for short-lived
access tokens, an OAuth 2.0 client's credentials, or a user's password.

Each source hands out an `Authorization` header value and renews its token before it expires;
the renewal runs under a lock, so threads sharing a client never fetch a token twice at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx

from micro_client.problems import ApiError

EXCHANGE_PATH = "/api/v1/auth/token/exchange"
PASSWORD_TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a secret
REFRESH_PATH = "/api/v1/auth/token/refresh"
OAUTH_TOKEN_PATH = "/o/token/"  # noqa: S105 - a URL path, not a secret
# A token is renewed this long before it expires (at most halfway through its lifetime), so a
# request never leaves with a token that expires on the way.
REFRESH_MARGIN_SECONDS = 30.0

Clock = Callable[[], float]


class Credentials(Protocol):
    """A source of the `Authorization` header `MicroClient` sends."""

    def authorization(self, http: httpx.Client) -> str:
        """The header's value, obtaining or renewing a token through `http` when needed."""
        ...

    def invalidate(self, authorization: str) -> None:
        """The service rejected `authorization`: the next call obtains a new token."""
        ...


class StaticToken:
    """A token obtained elsewhere, sent as it is and never renewed."""

    def __init__(self, token: str) -> None:
        self._authorization = f"Bearer {token}"

    def authorization(self, http: httpx.Client) -> str:
        return self._authorization

    def invalidate(self, authorization: str) -> None:
        return None

    def __repr__(self) -> str:
        return "StaticToken(...)"


class RenewedToken:
    """A token obtained by `_obtain` and renewed before it expires; thread-safe."""

    def __init__(self, *, refresh_margin: float, clock: Clock) -> None:
        self._lock = threading.Lock()
        self._margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0

    def authorization(self, http: httpx.Client) -> str:
        # Held while the token is fetched: other threads wait for it instead of fetching too.
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                # The lifetime counts from the request: the token aged while the answer came.
                asked_at = self._clock()
                token, lifetime = self._obtain(http)
                self._token = token
                self._renew_at = asked_at + max(lifetime - self._margin, lifetime / 2)
            return f"Bearer {self._token}"

    def invalidate(self, authorization: str) -> None:
        with self._lock:
            if self._token is not None and authorization == f"Bearer {self._token}":
                self._token = None

    def _obtain(self, http: httpx.Client) -> tuple[str, float]:
        raise NotImplementedError

    def __repr__(self) -> str:  # never the secret
        return f"{type(self).__name__}(...)"


class ApiKey(RenewedToken):
    """An API key, exchanged at POST /api/v1/auth/token/exchange for access tokens of a few
    minutes; `resource` asks for a token for one registered service."""

    def __init__(
        self,
        key: str,
        *,
        resource: str | None = None,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._key = key
        self._resource = resource

    def _obtain(self, http: httpx.Client) -> tuple[str, float]:
        body = {} if self._resource is None else {"resource": self._resource}
        response = http.post(EXCHANGE_PATH, json=body, headers={"X-API-Key": self._key})
        return token_and_lifetime(response)


class ClientCredentials(RenewedToken):
    """An OAuth 2.0 client's id and secret (the client credentials grant at /o/token/, the
    client authenticated with HTTP Basic); `scope` narrows the token's scopes."""

    def __init__(
        self,
        client_id: str,
        secret: str,
        *,
        scope: str | None = None,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        # RFC 6749 section 2.3.1: both are form-encoded before Basic encoding.
        self._auth = httpx.BasicAuth(quote_plus(client_id), quote_plus(secret))
        self._scope = scope

    def _obtain(self, http: httpx.Client) -> tuple[str, float]:
        data = {"grant_type": "client_credentials"}
        if self._scope is not None:
            data["scope"] = self._scope
        return token_and_lifetime(http.post(OAUTH_TOKEN_PATH, data=data, auth=self._auth))


class Password(RenewedToken):
    """A user's username and password (POST /api/v1/auth/token), renewed with the refresh
    token; when that is refused, the password signs in again. An `otp` is used once: a login
    that needs one must be made anew when its refresh token ends."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        otp: str | None = None,
        scope: str | None = None,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._sign_in = {"username": username, "password": password}
        if otp is not None:
            self._sign_in["otp"] = otp
        if scope is not None:
            self._sign_in["scope"] = scope
        self._refresh_token: str | None = None

    def _obtain(self, http: httpx.Client) -> tuple[str, float]:
        if self._refresh_token is not None:
            refreshed = http.post(REFRESH_PATH, json={"refresh_token": self._refresh_token})
            self._refresh_token = None  # rotated on success, dead on failure
            if refreshed.is_success:
                return self._keep_refresh_token(refreshed)
        answer = http.post(PASSWORD_TOKEN_PATH, json=self._sign_in)
        # A one-time code is spent once the service has judged it: sending it again would be
        # refused as a replay (and counted as a failed second factor).
        self._sign_in.pop("otp", None)
        return self._keep_refresh_token(answer)

    def _keep_refresh_token(self, response: httpx.Response) -> tuple[str, float]:
        token, lifetime = token_and_lifetime(response)
        refresh_token = response.json().get("refresh_token")
        self._refresh_token = refresh_token if isinstance(refresh_token, str) else None
        return token, lifetime


def token_and_lifetime(response: httpx.Response) -> tuple[str, float]:
    """`access_token` and `expires_in` of a token answer; a refusal is an ApiError."""
    if not response.is_success:
        raise ApiError.from_response(response)
    try:
        body: Any = response.json()
        return str(body["access_token"]), float(body["expires_in"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(
            response.status_code,
            "unexpected_response",
            "Unexpected token answer",
            "The token answer has no access_token and expires_in.",
        ) from exc
