"""The dashboard's session cookie as a DRF authentication class (after the token classes)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from accounts.models import User
from authn.sessions.proof import principal_for_session
from micro_platform.identity import Principal


class SessionPrincipalAuthentication(SessionAuthentication):
    """The dashboard's session cookie, with CSRF enforced on unsafe methods (never disabled)."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        if not isinstance(user, User):
            return None
        return principal_for_session(user, getattr(request._request, "session", None)), None


class SessionPrincipalScheme(OpenApiAuthenticationExtension):
    target_class = "authn.sessions.authentication.SessionPrincipalAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The dashboard session; unsafe methods also need the CSRF token.",
        }
