"""OAuth 2.0 access tokens are the service's own JWTs (RFC 9068), one format for every path.

django-oauth-toolkit calls `access_token_generator` (its ACCESS_TOKEN_GENERATOR hook) while
oauthlib builds the token response, before the token is stored. The generator decides what
the token may carry: the requested scopes narrowed to what the subject holds *now* (so a
refresh never outlives a scope the user lost), and it narrows `request.scopes` to match, which
is what the response's `scope` and the stored row then show.
"""

from __future__ import annotations

from typing import Any

from oauthlib.oauth2 import InvalidGrantError, InvalidScopeError

from accounts.models import User
from accounts.selectors import user_held_scopes, user_memberships
from authn import scopes as scope_catalogue
from authn.services.jwt import access_token_issue
from authn.services.mfa import user_has_mfa

OPENID = "openid"
CLIENT_CREDENTIALS = "client_credentials"


def token_subject(request: Any) -> User:
    """The user a token acts for: the resource owner, or the client's service account."""
    if request.grant_type == CLIENT_CREDENTIALS:
        return request.client.user
    return request.user


def held_scopes(*, user: User) -> frozenset[str]:
    return user_held_scopes(user=user)


def _amr(user: User, grant_type: str) -> tuple[str, ...]:
    if grant_type == CLIENT_CREDENTIALS:
        return ()
    # The authorize and device pages sit behind the dashboard sign-in, which asks a user
    # with a TOTP device for a code before the session exists.
    return ("pwd", "otp") if user_has_mfa(user=user) else ("pwd",)


def access_token_generator(request: Any, refresh_token: bool = False) -> str:
    user = token_subject(request)
    if user is None or not user.is_active:
        raise InvalidGrantError(description="The account is not active.", request=request)
    requested = list(request.scopes or [])
    memberships = user_memberships(user=user)
    held = user_held_scopes(user=user, memberships=memberships)
    scopes = frozenset(requested) & scope_catalogue.ALL_SCOPES & held
    if not scopes:
        raise InvalidScopeError(
            description="None of the requested scopes is held by the account.", request=request
        )
    request.scopes = sorted(scopes) + ([OPENID] if OPENID in requested else [])
    auth_time = int(user.last_login.timestamp()) if user.last_login else None
    issued = access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=scopes,
        group_ids=tuple(sorted(group_id for group_id, _ in memberships)),
        amr=_amr(user, request.grant_type),
        lifetime=int(request.expires_in),
        client_id=request.client.client_id,
        auth_time=None if request.grant_type == CLIENT_CREDENTIALS else auth_time,
    )
    return issued.token
