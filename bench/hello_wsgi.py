"""The bare-WSGI ceiling of the bench: a minimal WSGI app answering `hello` to any request,
served by the same gunicorn and measured with the same wrk settings as `/healthz`, so the
table shows how far Django's stack is from what the server and the machine allow."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"hello"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
