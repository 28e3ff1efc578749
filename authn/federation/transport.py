"""The HTTP session every call to an identity provider goes through: bounded in size and time.

A provider's answer (discovery, JWKS, token, userinfo, and any redirect on the way) is read
whole into memory, so each is read here with a cap of MICRO_FEDERATION_MAX_RESPONSE_BYTES
(refused up front by its Content-Length, else while it arrives, counting the decoded bytes
so a small compressed body cannot expand past it) and within MICRO_FEDERATION_TIMEOUT from
the moment the request is sent: requests' own timeout bounds each socket read, so an answer
trickling in a byte at a time could otherwise hold a worker for ever.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util import Timeout

_CHUNK_BYTES = 64 * 1024
# Hosts an issuer (and so each of its endpoints) may use plain http on.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def secure_url(url: object) -> bool:
    """Whether a provider's URL keeps to the issuer rule: https, or http on a loopback host
    (the JWKS, the code and the client secret never travel in clear text)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    return parts.scheme == "http" and host in LOOPBACK_HOSTS


class InsecureRedirect(requests.RequestException):
    """A provider's answer redirects to a URL that breaks the issuer rule (plain http)."""


class ResponseTooLarge(requests.RequestException):
    """The provider's answer is larger than MICRO_FEDERATION_MAX_RESPONSE_BYTES."""


class ResponseTooSlow(requests.ReadTimeout):
    """The provider's answer did not arrive whole within MICRO_FEDERATION_TIMEOUT."""


class BoundedAdapter(HTTPAdapter):
    """Reads each answer whole before returning it: at most `max_bytes`, within `seconds` of
    sending the request (which replaces the caller's per-read timeout)."""

    def __init__(self, *, max_bytes: int, seconds: float) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.seconds = seconds

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        deadline = time.monotonic() + self.seconds
        # `total` also shortens the wait for the headers by the time connecting took.
        bound = Timeout(connect=self.seconds, read=self.seconds, total=self.seconds)
        response = super().send(
            request,
            stream=True,
            timeout=bound,  # type: ignore[arg-type]  # requests hands a urllib3 Timeout on as is
            verify=verify,
            cert=cert,
            proxies=proxies,
        )
        try:
            body = self._read(response, deadline)
        except BaseException:
            response.close()
            raise
        # Where requests itself keeps a body it has read; .json() and .text read it from there.
        response._content = body
        return response

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLarge(f"The answer declares {declared} bytes.", response=response)
        watchdog = _Watchdog(response, max(deadline - time.monotonic(), 0.0))
        body = bytearray()
        try:
            for chunk in response.iter_content(_CHUNK_BYTES):
                body += chunk
                if len(body) > self.max_bytes:
                    raise ResponseTooLarge("The answer is too large.", response=response)
        except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as exc:
            if watchdog.fired:
                raise ResponseTooSlow("The answer took too long.", response=response) from exc
            raise
        finally:
            watchdog.cancel()
        if watchdog.fired:  # a body without a length simply ends when its socket is cut
            raise ResponseTooSlow("The answer took too long.", response=response)
        return bytes(body)


class _Watchdog:
    """Cuts the answer's connection when its time is up, waking a read blocked on it (a read
    may otherwise wait a whole read timeout for every byte)."""

    def __init__(self, response: requests.Response, seconds: float) -> None:
        self.fired = False
        self._response = response
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.fired = True
        # urllib3 ends the reads of this response (shutdown of the socket for reading), from
        # any thread, also when the connection has already let go of its socket; it raises
        # when the answer was read whole and released meanwhile.
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self._response.raw.shutdown()

    def cancel(self) -> None:
        self._timer.cancel()


class BoundedSession(OAuth2Session):
    """Authlib's requests session, with every answer read through a BoundedAdapter, and
    redirects followed only to URLs that keep the issuer rule (an https JWKS URL must not
    lead to keys fetched in clear text)."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None and not secure_url(urljoin(resp.url, target)):
            raise InsecureRedirect("The answer redirects to a URL that is not https.")
        return target

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        adapter = BoundedAdapter(
            max_bytes=settings.MICRO_FEDERATION_MAX_RESPONSE_BYTES,
            seconds=settings.MICRO_FEDERATION_TIMEOUT,
        )
        self.mount("https://", adapter)
        self.mount("http://", adapter)
