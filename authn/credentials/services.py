"""Ending credentials: one token by its value, everything of a caller (logout-all), and
everything of a user (deactivation, a password change or reset, an MFA reset).

Every kind of credential the service issues ends here, so a new kind is added in one place:
refresh-token families and access tokens (authn.tokens), RPC sessions, dashboard sessions
(authn.sessions), OAuth 2.0 grants (authn.oauth) and API keys (authn.api_keys).
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from accounts.models import User, new_security_stamp
from audit.services import audit_record
from authn.api_keys.services import api_keys_revoke_all
from authn.models import DashboardSession, RefreshToken, Session, TokenFamily
from authn.oauth.services import oauth_access_token_revoke, user_grants_revoke
from authn.sessions.store import dashboard_sessions_delete
from authn.tokens import revocation
from authn.tokens.jwt import InvalidAccessToken, access_token_decode
from authn.tokens.resources import issued_audiences
from authn.tokens.services import REFRESH_TOKEN_PREFIX, families_revoke, hash_secret
from micro_platform.identity import Principal
from micro_platform.sign_in import require_personal_sign_in


def token_revoke(*, raw: str, actor: Principal | None, ip_address: str | None) -> None:
    """Revokes a refresh token (and its family) or an access token (by `jti`), this service's
    or one for a registered service (`resource`); unknown: no-op."""
    if raw.startswith(REFRESH_TOKEN_PREFIX):
        token = (
            RefreshToken.objects.select_related("family")
            .filter(token_hash=hash_secret(raw[:128]))
            .first()
        )
        if token is None:
            return
        with transaction.atomic():
            families_revoke([token.family], "revoked")
            audit_record(
                type="token.revoked",
                actor=actor or token.family.user_id,
                subject_type="token_family",
                subject_id=token.family_id,
                ip_address=ip_address,
            )
        return
    try:
        claims = access_token_decode(raw, audiences=issued_audiences())
    except InvalidAccessToken:
        return  # RFC 7009: an invalid token needs no revocation and is not an error.
    with transaction.atomic():
        revocation.revoke_access_token(jti=str(claims["jti"]), exp=int(claims["exp"]))
        if claims.get("client_id"):
            # An OAuth 2.0 token: end it the way /o/revoke_token/ does (row and refresh token).
            oauth_access_token_revoke(raw=raw)
        audit_record(
            type="token.revoked",
            actor=actor or uuid.UUID(claims["sub"]),
            subject_type="access_token",
            subject_id=str(claims["jti"]),
            ip_address=ip_address,
        )


def user_credentials_revoke(
    *,
    user: User,
    keep_family: str | None = None,
    access_tokens: bool = False,
) -> None:
    """Ends the user's sign-ins: refresh families, RPC sessions, dashboard sessions, OAuth grants;
    with `access_tokens`, every access token issued to the user so far as well.

    `keep_family` spares the caller's own sign-in (a password change keeps the current one).
    """
    families = list(TokenFamily.objects.filter(user=user, revoked_at__isnull=True))
    families = [family for family in families if str(family.pk) != keep_family]
    families_revoke(families, "credentials_revoked")
    Session.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    # A new stamp changes the session auth hash: every dashboard session of the user ends.
    User.objects.filter(pk=user.pk).update(security_stamp=new_security_stamp())
    # The rows go too, so the security page no longer lists them; the dashboard's own password
    # change re-saves its session under a new key (update_session_auth_hash).
    dashboard_sessions_delete(DashboardSession.objects.filter(user=user))
    user_grants_revoke(user=user)
    if access_tokens:
        revocation.revoke_subject(user_id=str(user.pk))


def logout_all(*, principal: Principal, ip_address: str | None, api_keys: bool = False) -> None:
    """Revokes every session and refresh token of the caller, and the calling access token;
    with `api_keys`, every API key of the caller too (and the tokens exchanged for them).

    Needs a person's own sign-in: a key or an application's token must not end the person's
    sessions (nor, with `api_keys`, every other key)."""
    require_personal_sign_in(actor=principal, action="Signing out everywhere")
    user = User.objects.filter(pk=principal.user_id).first()
    with transaction.atomic():
        if user is not None:
            user_credentials_revoke(user=user)
        if principal.jti and principal.expires_at:
            revocation.revoke_access_token(jti=principal.jti, exp=principal.expires_at)
        if api_keys:
            api_keys_revoke_all(owner_id=principal.user_id, actor=principal, reason="logout_all")
        audit_record(
            type="token.revoked",
            actor=principal,
            subject_type="user",
            subject_id=principal.user_id,
            ip_address=ip_address,
            data={"scope": "all"},
        )
