"""The dashboard's session cookie as a DRF authentication class (after the token classes)."""

from __future__ import annotations

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
