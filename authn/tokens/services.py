"""Refresh-token families: a sign-in's first pair, rotation with reuse detection, revocation."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import group_ids_of, user_held_scopes, user_memberships
from audit.models import AuditEvent
from audit.services import AuditEntry, audit_record, audit_record_many
from authn.models import RefreshToken, TokenFamily
from authn.tokens import revocation
from authn.tokens.jwt import access_token_issue
from authn.tokens.resources import (
    ScopeOutsideResource,
    audience_of,
    audit_detail,
    check_requested,
    narrowed,
)
from micro_platform import metrics
from micro_platform import scopes as scope_catalogue
from micro_platform.inserts import NewRows
from permissions import catalogue as registry
from permissions.catalogue import ServiceEntry

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


def _requested_scopes(
    requested: str | None, held: frozenset[str], resource: ServiceEntry | None
) -> frozenset[str]:
    if requested is None or not requested.strip():
        return held
    try:
        names = registry.parse_scope_string(requested)
        check_requested(names, resource)
    except (scope_catalogue.UnknownScope, ScopeOutsideResource) as exc:
        raise InvalidScope(str(exc)) from exc
    wanted = registry.expand(names)
    if not wanted <= held:
        raise InvalidScope(f"scope(s) not held: {' '.join(sorted(wanted - held))}")
    return wanted


def token_rows() -> NewRows:
    """New rows of a token write (families, refresh tokens, their audit events), stored with
    one statement where the database allows it (see micro_platform.inserts)."""
    return NewRows(TokenFamily, RefreshToken, AuditEvent)


def _new_refresh(family: TokenFamily, rows: NewRows) -> str:
    secret = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    rows.add(
        RefreshToken(family=family, token_hash=hash_secret(secret), expires_at=family.expires_at)
    )
    return secret


Memberships = list[tuple[uuid.UUID, list[str]]]


def _held(user: User) -> tuple[frozenset[str], Memberships]:
    """What the user holds now and the groups it comes from, in one query."""
    memberships = user_memberships(user=user)
    return user_held_scopes(user=user, memberships=memberships), memberships


def _issue_pair(
    user: User,
    family: TokenFamily,
    scopes: frozenset[str],
    memberships: Memberships,
    resource: ServiceEntry | None,
    rows: NewRows,
) -> TokenPair:
    """The family's refresh token, added to `rows`, stays general; the access token is for
    `resource` (its audience, and only the scopes that service owns plus `profile`) when one
    is named."""
    access = access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=narrowed(scopes, resource),
        audience=audience_of(resource),
        group_ids=group_ids_of(memberships),
        amr=tuple(family.amr),
        session_id=family.pk,
        # The family is created at the password sign-in and never changes: every token
        # refreshed from it keeps the original sign-in time and methods.
        auth_time=int(family.created_at.timestamp()),
    )
    return TokenPair(
        access_token=access.token,
        refresh_token=_new_refresh(family, rows),
        expires_in=access.expires_in,
        scope=access.scope,
        family_id=family.pk,
        user=user,
    )


def sign_in_scopes(
    *,
    user: User,
    requested: str | None,
    memberships: Memberships,
    resource: ServiceEntry | None = None,
) -> frozenset[str]:
    """The scopes a sign-in asks for (default: everything the user holds, `memberships` its
    groups as `user_memberships` gives them); InvalidScope for a scope that is unknown, not
    held, or (with `resource`) not one a token for that service may carry."""
    held = user_held_scopes(user=user, memberships=memberships)
    return _requested_scopes(requested, held, resource)


def token_family_start(
    *,
    user: User,
    scopes: frozenset[str],
    memberships: Memberships,
    amr: tuple[str, ...],
    resource: ServiceEntry | None = None,
    rows: NewRows | None = None,
) -> TokenPair:
    """A sign-in's refresh-token family and its first token pair, in the caller's transaction:
    both rows are added to `rows` when given (the caller stores them with its own), else
    stored here (`token_rows`: one statement where the database allows it)."""
    with nullcontext(rows) if rows is not None else token_rows() as new:
        family = TokenFamily(
            user=user,
            scope=scope_catalogue.to_string(scopes),
            amr=list(amr),
            expires_at=timezone.now() + timedelta(seconds=settings.MICRO_REFRESH_TOKEN_TTL),
        )
        # Adding it sets `created_at` (as saving would), which the access token's auth_time
        # is taken from.
        new.add(family)
        return _issue_pair(user, family, scopes, memberships, resource, new)


def families_revoke(families: list[TokenFamily], reason: str) -> None:
    """Revokes refresh-token families and every access token issued from them."""
    now = timezone.now()
    ids = [family.pk for family in families]
    TokenFamily.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=now, revoke_reason=reason
    )
    revocation.revoke_families(family_ids=[str(family_id) for family_id in ids])


def token_refresh(
    *, raw: str, ip_address: str | None, resource: ServiceEntry | None = None
) -> TokenPair:
    """Rotates a refresh token; presenting a rotated one revokes its whole family. The new
    access token is for `resource` when one is named; the family stays general."""
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
            pair = _rotate(token, ip_address, resource)
    if pair is None:
        raise InvalidRefreshToken()
    return pair


def _handle_reuse(token: RefreshToken, ip_address: str | None) -> None:
    family = token.family
    if family.revoked_at is not None:
        return
    families_revoke([family], "reuse_detected")
    audit_record(
        type="token.reuse_detected",
        actor=family.user_id,
        subject_type="token_family",
        subject_id=family.pk,
        ip_address=ip_address,
    )
    logger.warning("token.reuse_detected user=%s sid=%s", family.user_id, family.pk)


def _rotate(
    token: RefreshToken, ip_address: str | None, resource: ServiceEntry | None
) -> TokenPair:
    now = timezone.now()
    family, user = token.family, token.family.user
    if family.revoked_at is not None or token.expires_at <= now or not user.is_active:
        raise InvalidRefreshToken()
    token.used_at = now
    token.save(update_fields=["used_at"])
    # Scopes are re-intersected with what the user holds now.
    held, memberships = _held(user)
    scopes = frozenset(family.scope.split()) & held
    # The new refresh token and its event: one statement where the database allows it.
    with token_rows() as rows:
        pair = _issue_pair(user, family, scopes, memberships, resource, rows)
        refreshed = AuditEntry(
            type="token.refreshed",
            actor=user.pk,
            subject_type="token_family",
            subject_id=family.pk,
            ip_address=ip_address,
            data=audit_detail(resource),
        )
        audit_record_many(entries=[refreshed], rows=rows)
    metrics.token_issued(path="api", grant="refresh")
    return pair
