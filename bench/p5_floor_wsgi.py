"""The first floor of bench/p5_floor.py: a bare WSGI app that reads a sign-in's JSON body and
verifies its password against the bench user's hash (BENCH_FLOOR_HASH, argon2-cffi's form),
nothing else (a GET is answered `ok`, for the start-up probe). It shows what gunicorn, wrk
and the machine leave of the bare Argon2id rate."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

HASHER = PasswordHasher()
ENCODED = os.environ["BENCH_FLOOR_HASH"]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] != "POST":  # the start-up probe's GET /healthz
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    password = json.loads(environ["wsgi.input"].read(length) or b"{}").get("password", "")
    try:
        verified = HASHER.verify(ENCODED, password)
    except VerificationError:
        verified = False
    body = json.dumps({"verified": verified}).encode()
    status = "200 OK" if verified else "401 Unauthorized"
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
