"""Requests any signed-in caller can forge: an out-of-range cursor position on every cursor list,
and HTTP methods named after a view's attributes on every path. Each is a 4xx problem, no 500."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator

PROBLEM = "application/problem+json"
# Valid ISO 8601 with an offset, but 23:59 west of year 9999's last instant is past year 9999 in
# UTC: comparing it with `created_at` overflowed (OverflowError, a 500).
OVERFLOWING = "9999-12-31T23:59:59.999999-23:59"
UNDERFLOWING = "0001-01-01T00:00:00+23:59"
# Method names a view answers as attributes but not as HTTP handlers, and one it has neither.
CUSTOM_METHODS = ["DISPATCH", "SETUP", "AS_VIEW", "INITIAL", "FINALIZE_RESPONSE", "FOO"]
# Authentication runs before the method is looked at; this path takes an API key only, so the
# bearer token the test sends is no credential there.
ANSWERED_BEFORE_THE_METHOD = {"/api/v1/auth/token/exchange": 401}


def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _cursor_lists() -> list[str]:
    """Every documented GET that takes a `cursor`: a new cursor list is tested without edits."""
    return sorted(
        path
        for path, item in _schema()["paths"].items()
        if any(p["name"] == "cursor" for p in item.get("get", {}).get("parameters", []))
    )


def _paths() -> list[str]:
    """The API's paths. The OAuth endpoints (tag `oauth`) are django-oauth-toolkit's views,
    which answer HTML pages and RFC 6749 errors rather than problem details: tests/authn/oauth."""
    return sorted(
        path
        for path, item in _schema()["paths"].items()
        if not any("oauth" in operation.get("tags", []) for operation in item.values())
    )


def forged_cursor(position: str) -> str:
    raw = urlencode({"o": "0", "r": "0", "p": position}).encode()
    return base64.b64encode(raw).decode()


def concrete(path: str) -> str:
    """The path with each `{param}` filled: a random id, a method name for the RPC facade, or
    a number for a passkey."""
    filled = path.replace("{method}", "read").replace("{passkey_id}", "1")
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        filled = filled[:start] + str(uuid.uuid4()) + filled[end + 1 :]
    return filled


def test_the_cursor_lists_are_found_in_the_schema():
    assert {"/api/v1/groups", "/api/v1/api-keys", "/api/v1/me/events"} <= set(_cursor_lists())
    assert "/api/v1/audit-events" in _cursor_lists()


@pytest.mark.parametrize("position", [OVERFLOWING, UNDERFLOWING])
@pytest.mark.parametrize("path", _cursor_lists())
def test_an_out_of_range_cursor_position_is_a_404(admin_client, path, position):
    response = admin_client.get(path, {"cursor": forged_cursor(position)})

    assert response.status_code == 404, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("method", CUSTOM_METHODS)
@pytest.mark.parametrize("path", _paths())
def test_a_method_named_after_a_view_attribute_is_a_405_problem(admin_client, path, method):
    response = admin_client.generic(method, concrete(path))

    assert response.status_code == ANSWERED_BEFORE_THE_METHOD.get(path, 405), response.content
    assert response["Content-Type"] == PROBLEM


@pytest.mark.parametrize("path", ["/api/v1/users/x", "/api/v1/groups", "/api/v1/access"])
def test_a_custom_method_is_a_405_for_an_ordinary_user_too(user_client, path):
    response = user_client.generic("DISPATCH", path)

    assert response.status_code == 405, response.content
    assert response["Content-Type"] == PROBLEM
