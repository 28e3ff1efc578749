"""The API client's error: every refusal of the service, as the RFC 9457 problem it sent."""

from __future__ import annotations

from typing import Any

import httpx

# The code of an answer that is neither a problem nor an OAuth error (a proxy's HTML page, an
# empty body where JSON was due).
UNEXPECTED_RESPONSE = "unexpected_response"


class ApiError(Exception):
    """The service refused a request (or answered in a way the client cannot read): its HTTP
    status and the problem's `code`, `title`, `detail` and field `errors`."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        errors: dict[str, Any] | None = None,
        type: str = "about:blank",
    ) -> None:
        super().__init__(f"HTTP {status} {code}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors or {}
        self.type = type

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Reads a problem (`application/problem+json`) or an OAuth 2.0 error (`error`,
        `error_description`, as /o/ answers); anything else is `unexpected_response`."""
        body = _json_object(response)
        title = response.reason_phrase or f"HTTP {response.status_code}"
        if isinstance(body.get("code"), str) and isinstance(body.get("detail"), str):
            errors = body.get("errors")
            return cls(
                response.status_code,
                body["code"],
                str(body.get("title") or title),
                body["detail"],
                errors=errors if isinstance(errors, dict) else None,
                type=str(body.get("type") or "about:blank"),
            )
        if isinstance(body.get("error"), str):
            detail = body.get("error_description")
            return cls(
                response.status_code,
                body["error"],
                title,
                detail if isinstance(detail, str) and detail else body["error"],
            )
        return cls(response.status_code, UNEXPECTED_RESPONSE, title, title)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
