"""OAuth 2.0 access tokens are the service's own JWTs (RFC 9068), one format for every path.

django-oauth-toolkit calls `access_token_generator` (its ACCESS_TOKEN_GENERATOR hook) while
oauthlib builds the token response, before the token is stored. The generator decides what
the token may carry: the requested scopes narrowed to what the subject holds *now* (so a
refresh never outlives a scope the user lost), and it narrows `request.scopes` to match, which
is what the response's `scope` and the stored row then show.

A token for one service (`resource`, authn.oauth.resources) is narrowed further, to that
service's scopes and `profile`, with the service's audience. Only the signed token and the
response's `scope` are: the rows keep the general scopes (`request.micro_general_scopes`,
which the validator stores), because a refresh reads its scopes from them, and a refresh
token's scope must stay that of the authorization (RFC 6749 §6).
"""

from __future__ import annotations

from typing import Any

from oauthlib.oauth2 import InvalidGrantError, InvalidScopeError

from accounts.models import User
from accounts.selectors import group_ids_of, user_held_scopes, user_memberships
from authn.oauth.resources import token_resource
from authn.oauth.sign_ins import (
    DEVICE_CODE,
    SignInFacts,
    device_key,
    oauth_sign_in_get,
    request_facts,
)
from authn.tokens.jwt import access_token_issue
from authn.tokens.resources import audience_of, narrowed
from micro_platform import scopes as scope_catalogue
from permissions import catalogue as registry

OPENID = scope_catalogue.OPENID
CLIENT_CREDENTIALS = "client_credentials"


def token_subject(request: Any) -> User:
    """The user a token acts for: the resource owner, or the client's service account."""
    if request.grant_type == CLIENT_CREDENTIALS:
        return request.client.user
    return request.user


def held_by(request: Any, user: User) -> tuple[frozenset[str], list[tuple[Any, list[str]]]]:
    """What `user` holds now and the memberships it comes from, read once per token request
    (scope defaults, scope validation and the token itself all ask) and kept on it; the
    memberships come from `request.micro_memberships` when the client's load read them
    with its owner (`(user id, memberships)`, client credentials)."""
    memo = getattr(request, "micro_held", None)
    if memo is None or memo[0] != user.pk:
        read = getattr(request, "micro_memberships", None)
        memberships = read[1] if read and read[0] == user.pk else user_memberships(user=user)
        memo = (user.pk, user_held_scopes(user=user, memberships=memberships), memberships)
        request.micro_held = memo
    return memo[1], memo[2]


def _amr(grant_type: str) -> tuple[str, ...]:
    # The consent and device pages sit behind the dashboard's password sign-in. Whether that
    # session also passed the TOTP step is not recorded with the grant, so OAuth tokens never
    # claim `otp` (nor an `auth_time`): a downstream step-up check must not trust them for it.
    return () if grant_type == CLIENT_CREDENTIALS else ("pwd",)


def _sign_in_facts(request: Any) -> SignInFacts | None:
    """The federated sign-in the grant was approved in (None for any other sign-in)."""
    facts = request_facts(request)
    if facts is None and request.grant_type == DEVICE_CODE and request.device_code:
        facts = oauth_sign_in_get(key=device_key(request.device_code))
        request.micro_sign_in = facts
    return facts


def access_token_generator(request: Any, refresh_token: bool = False) -> str:
    user = token_subject(request)
    if user is None or not user.is_active:
        raise InvalidGrantError(description="The account is not active.", request=request)
    service = token_resource(request)
    requested = list(request.scopes or [])
    held, memberships = held_by(request, user)
    wanted = frozenset(requested) & registry.all_scopes()
    scopes = wanted & held
    # `openid` alone is a sign-in: an ID token and an access token without API scopes.
    if wanted and not scopes:
        raise InvalidScopeError(
            description="None of the requested scopes is held by the account.", request=request
        )
    # A sign-in's scopes (`openid`, and `email` with it) are carried as asked for.
    sign_in = (
        [name for name in scope_catalogue.SIGN_IN_SCOPES if name in requested]
        if OPENID in requested
        else []
    )
    carried = narrowed(scopes, service)
    request.micro_resource = service
    request.micro_general_scopes = sorted(scopes) + sign_in
    request.scopes = sorted(carried) + sign_in
    facts = _sign_in_facts(request)
    issued = access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=carried,
        audience=audience_of(service),
        group_ids=group_ids_of(memberships),
        amr=facts.amr if facts is not None else _amr(request.grant_type),
        idp=facts.idp if facts is not None else None,
        lifetime=int(request.expires_in),
        client_id=request.client.client_id,
    )
    return issued.token
