"""HTTP to the service: one timeout, and every transport failure as a one-line CliError."""

from __future__ import annotations

import os
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests

from micro_cli.errors import CliError

TIMEOUT_SECONDS = 10.0
USER_AGENT = "micro-cli/1"
DEFAULT_SERVER = "http://localhost:8000"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the decoded JSON body; None when there was none or it was not JSON

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None


def normalize_server(url: str) -> str:
    """`https://id.example.com/` → `https://id.example.com`; anything but http(s) is refused."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"invalid server URL {url!r}; expected http(s)://host[:port]")
    return url


def default_server() -> str:
    return os.environ.get("MICRO_SERVER") or DEFAULT_SERVER


def is_plain_http_off_host(server: str) -> bool:
    """Tokens sent in clear text to another machine could be read on the way: `micro login`
    refuses such a server unless told `--allow-insecure-http`."""
    parts = urlsplit(server)
    return parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK_HOSTS


def same_origin(url: str, server: str) -> bool:
    a, b = urlsplit(url), urlsplit(server)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _reason(exc: requests.RequestException) -> str:
    text = str(exc).lower()
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate check failed"
    return "connection failed"


def send(method: str, url: str, server: str, **kwargs: Any) -> Reply:
    """One request with the client's timeout; transport errors name the server and the cause."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **kwargs.pop("headers", {})}
    try:
        response = requests.request(
            method, url, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False, **kwargs
        )
    except requests.RequestException as exc:
        raise CliError(f"cannot reach {server}: {_reason(exc)}") from exc
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    return Reply(status=response.status_code, body=body)


def problem_message(reply: Reply) -> str:
    """One line from an error reply: a problem's `detail` (+ field errors) or OAuth's
    `error_description`/`error`, else the bare status."""
    detail = reply.field("detail") or reply.field("error_description") or reply.field("error")
    if not isinstance(detail, str) or not detail:
        return f"the server answered HTTP {reply.status} {_phrase(reply.status)}".rstrip()
    errors = reply.field("errors")
    if isinstance(errors, dict) and errors:
        fields = "; ".join(f"{name}: {_joined(msgs)}" for name, msgs in errors.items())
        # The problem's detail only points at `errors`; the field messages are the substance.
        detail = f"{detail.removesuffix('; see `errors`.').rstrip('.')}: {fields}"
    return " ".join(detail.split())


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _joined(messages: Any) -> str:
    """Field messages, however nested (a list field's errors come keyed by index)."""
    if isinstance(messages, dict):
        return " ".join(_joined(value) for value in messages.values())
    if isinstance(messages, list):
        return " ".join(_joined(value) for value in messages)
    return str(messages)
