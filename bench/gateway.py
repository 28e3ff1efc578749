"""Scenarios P1 and P2: gateway forward-auth `GET /api/v1/auth/verify` with a JWT access
token and with an API key (hooked into bench/run.py's build_scenario)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

VERIFY_PATH = "/api/v1/auth/verify"


def obtain_api_key(base_url: str, token: str, http_request: Callable[..., Any]) -> str:
    """Mints an API key through the public API, as a client would (it lives one day)."""
    body = json.dumps({"name": "bench", "scopes": ["profile", "users:read"], "expires_in_days": 1})
    status, data = http_request(
        f"{base_url}/api/v1/api-keys",
        method="POST",
        body=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    if status != 201:
        raise RuntimeError(f"POST /api/v1/api-keys returned {status}: {data[:300]!r}")
    return str(json.loads(data)["key"])


def verify_headers(key: str, credential: str) -> tuple[tuple[str, str], ...]:
    if key.startswith("P2"):
        return (("X-API-Key", credential),)
    return (("Authorization", f"Bearer {credential}"),)


def verify_label(key: str) -> str:
    return f"{VERIFY_PATH} ({'API key' if key.startswith('P2') else 'JWT'})"
