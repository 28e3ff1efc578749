"""Password sign-in, refresh with rotation and reuse detection, revocation, logout-all."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_held_scopes, user_memberships
from audit.services import audit_record
from authn.models import DashboardSession, RefreshToken, Session, TokenFamily
from authn.oauth.services import oauth_access_token_revoke, user_grants_revoke
from authn.services import revocation
from authn.services.jwt import InvalidAccessToken, access_token_decode, access_token_issue
from authn.services.mfa import mfa_sign_in_step
from authn.services.recent_sign_in import require_personal_sign_in
from authn.services.sign_in import password_check, sign_in_confirm, sign_in_record
from authn.session_store import dashboard_sessions_delete
from micro_platform import metrics
from micro_platform import scopes as scope_catalogue
from micro_platform.identity import Principal

logger = logging.getLogger("micro.auth")

REFRESH_TOKEN_PREFIX = "mrt_"  # noqa: S105 - a public prefix, not a secret


class InvalidScope(Exception):
    """A requested scope is unknown or not held."""


class InvalidRefreshToken(Exception):
    """Unknown, expired, revoked or reused refresh token."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    family_id: uuid.UUID
    user: User


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret: enough for 256-bit random strings (not for passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _requested_scopes(requested: str | None, held: frozenset[str]) -> frozenset[str]:
    if requested is None or not requested.strip():
        return held
    try:
        wanted = scope_catalogue.expand(scope_catalogue.parse_scope_string(requested))
    except scope_catalogue.UnknownScope as exc:
        raise InvalidScope(str(exc)) from exc
    if not wanted <= held:
        raise InvalidScope(f"scope(s) not held: {' '.join(sorted(wanted - held))}")
    return wanted


def _new_refresh(family: TokenFamily) -> str:
    secret = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    RefreshToken.objects.create(
        family=family, token_hash=hash_secret(secret), expires_at=family.expires_at
    )
    return secret


Memberships = list[tuple[uuid.UUID, list[str]]]


def _held(user: User) -> tuple[frozenset[str], Memberships]:
    """What the user holds now and the groups it comes from, in one query."""
    memberships = user_memberships(user=user)
    return user_held_scopes(user=user, memberships=memberships), memberships


def _issue_pair(
    user: User, family: TokenFamily, scopes: frozenset[str], memberships: Memberships
) -> TokenPair:
    access = access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=scopes,
        group_ids=tuple(sorted(group_id for group_id, _ in memberships)),
        amr=tuple(family.amr),
        session_id=family.pk,
        # The family is created at the password sign-in and never changes: every token
        # refreshed from it keeps the original sign-in time and methods.
        auth_time=int(family.created_at.timestamp()),
    )
    return TokenPair(
        access_token=access.token,
        refresh_token=_new_refresh(family),
        expires_in=access.expires_in,
        scope=access.scope,
        family_id=family.pk,
        user=user,
    )


def token_obtain_with_password(
    *,
    username: str,
    password: str,
    scope: str | None,
    ip_address: str | None,
    otp: str | None = None,
) -> TokenPair:
    """Signs a user in with a password (and a code when MFA is on).

    The password is checked first, so a wrong one never reveals whether the account has MFA.
    """
    user = password_check(
        username=username, password=password, method="password", ip_address=ip_address
    )
    held, memberships = _held(user)
    scopes = _requested_scopes(scope, held)
    # After the scope check, so a refused scope does not consume a backup code.
    amr = mfa_sign_in_step(user=user, otp=otp, ip_address=ip_address)
    now = timezone.now()
    with transaction.atomic():
        sign_in_confirm(user=user)
        family = TokenFamily.objects.create(
            user=user,
            scope=scope_catalogue.to_string(scopes),
            amr=list(amr),
            expires_at=now + timedelta(seconds=settings.MICRO_REFRESH_TOKEN_TTL),
        )
        pair = _issue_pair(user, family, scopes, memberships)
        sign_in_record(
            user=user, method="password", ip_address=ip_address, data={"sid": str(family.pk)}
        )
        audit_record(
            type="token.issued",
            actor=user.pk,
            subject_type="token_family",
            subject_id=family.pk,
            ip_address=ip_address,
            data={"scope": pair.scope, "grant": "password"},
        )
    metrics.token_issued(path="api", grant="password")
    return pair


def _revoke_family_rows(families: list[TokenFamily], reason: str) -> None:
    now = timezone.now()
    ids = [family.pk for family in families]
    TokenFamily.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=now, revoke_reason=reason
    )
    revocation.revoke_families(family_ids=[str(family_id) for family_id in ids])


def token_refresh(*, raw: str, ip_address: str | None) -> TokenPair:
    """Rotates a refresh token; presenting a rotated one revokes its whole family."""
    if not raw.startswith(REFRESH_TOKEN_PREFIX) or len(raw) > 128:
        raise InvalidRefreshToken()
    with transaction.atomic():
        token = (
            RefreshToken.objects.select_for_update()
            .select_related("family", "family__user")
            .filter(token_hash=hash_secret(raw))
            .first()
        )
        if token is None:
            raise InvalidRefreshToken()
        if token.used_at is not None:
            _handle_reuse(token, ip_address)
            pair = None  # the revocation commits; the caller still gets a refusal below
        else:
            pair = _rotate(token, ip_address)
    if pair is None:
        raise InvalidRefreshToken()
    return pair


def _handle_reuse(token: RefreshToken, ip_address: str | None) -> None:
    family = token.family
    if family.revoked_at is not None:
        return
    _revoke_family_rows([family], "reuse_detected")
    audit_record(
        type="token.reuse_detected",
        actor=family.user_id,
        subject_type="token_family",
        subject_id=family.pk,
        ip_address=ip_address,
    )
    logger.warning("token.reuse_detected user=%s sid=%s", family.user_id, family.pk)


def _rotate(token: RefreshToken, ip_address: str | None) -> TokenPair:
    now = timezone.now()
    family, user = token.family, token.family.user
    if family.revoked_at is not None or token.expires_at <= now or not user.is_active:
        raise InvalidRefreshToken()
    token.used_at = now
    token.save(update_fields=["used_at"])
    # Scopes are re-intersected with what the user holds now.
    held, memberships = _held(user)
    scopes = frozenset(family.scope.split()) & held
    pair = _issue_pair(user, family, scopes, memberships)
    audit_record(
        type="token.refreshed",
        actor=user.pk,
        subject_type="token_family",
        subject_id=family.pk,
        ip_address=ip_address,
    )
    metrics.token_issued(path="api", grant="refresh")
    return pair


def token_revoke(*, raw: str, actor: Principal | None, ip_address: str | None) -> None:
    """Revokes a refresh token (and its family) or an access token (by `jti`); unknown: no-op."""
    if raw.startswith(REFRESH_TOKEN_PREFIX):
        token = (
            RefreshToken.objects.select_related("family")
            .filter(token_hash=hash_secret(raw[:128]))
            .first()
        )
        if token is None:
            return
        with transaction.atomic():
            _revoke_family_rows([token.family], "revoked")
            audit_record(
                type="token.revoked",
                actor=actor or token.family.user_id,
                subject_type="token_family",
                subject_id=token.family_id,
                ip_address=ip_address,
            )
        return
    try:
        claims = access_token_decode(raw)
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
    *, user: User, keep_family: str | None = None, keep_session: str | None = None
) -> None:
    """Ends the user's sign-ins: refresh families, RPC sessions, dashboard sessions, OAuth grants.

    `keep_*` spare the caller's own sign-in (a password change keeps the current one).
    """
    families = list(TokenFamily.objects.filter(user=user, revoked_at__isnull=True))
    families = [family for family in families if str(family.pk) != keep_family]
    _revoke_family_rows(families, "credentials_revoked")
    sessions = Session.objects.filter(user=user, revoked_at__isnull=True)
    if keep_session:
        sessions = sessions.exclude(pk=keep_session)
    sessions.update(revoked_at=timezone.now())
    # A new stamp changes the session auth hash: every dashboard session of the user ends.
    from accounts.models import new_security_stamp

    User.objects.filter(pk=user.pk).update(security_stamp=new_security_stamp())
    # The rows go too, so the security page no longer lists them; the dashboard's own password
    # change re-saves its session under a new key (update_session_auth_hash).
    dashboard_sessions_delete(DashboardSession.objects.filter(user=user))
    user_grants_revoke(user=user)


def logout_all(*, principal: Principal, ip_address: str | None, api_keys: bool = False) -> None:
    """Revokes every session and refresh token of the caller, and the calling access token;
    with `api_keys`, every API key of the caller too (and the tokens exchanged for them).

    Needs a person's own sign-in: a key or an application's token must not end the person's
    sessions (nor, with `api_keys`, every other key)."""
    require_personal_sign_in(actor=principal, action="Signing out everywhere")
    # api_keys imports this module (hash_secret): imported here to avoid the cycle.
    from authn.services.api_keys import api_keys_revoke_all

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
