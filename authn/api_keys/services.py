"""API keys (docs/api-keys.md): mint, revoke, rotate, and authenticate `mk_<prefix>_<secret>`.

The prefix (public, random) finds the row; the secret is 256 random bits from `secrets` and
only its SHA-256 is stored. A fast unsalted hash is right here and a password hash is not:
the secret is machine-generated with far more entropy than any brute force can search, so
slowing each guess buys nothing, and a fast hash keeps every cache miss cheap.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_held_scopes, user_memberships
from audit.services import audit_record
from authn import state
from authn.api_keys import cache as api_key_cache
from authn.models import ApiKey
from authn.tokens import revocation
from authn.tokens.jwt import IssuedAccessToken, access_token_issue
from authn.tokens.resources import (
    InvalidTarget,
    ScopeOutsideResource,
    audience_of,
    audit_detail,
    check_requested,
    narrowed,
    resource_service,
)
from authn.tokens.services import hash_secret
from micro_platform import metrics
from micro_platform import scopes as scope_catalogue
from micro_platform.identity import Principal
from micro_platform.sign_in import (
    FreshMfaRequired as FreshMfaRequired,  # raised by api_key_create: callers import it here
)
from micro_platform.sign_in import (
    require_fresh_mfa,
    require_personal_sign_in,
)
from permissions import catalogue as registry
from permissions.catalogue import ServiceEntry

KEY_PREFIX = "mk_"
DEFAULT_EXPIRY_DAYS = 90
MAX_EXPIRY_DAYS = 365
MAX_GRACE_HOURS = 24 * 30
# The most scope names one key may carry (a request longer than this names no real set).
MAX_SCOPES = 100
EXCHANGE_TOKEN_TTL = 300
LAST_USED_INTERVAL = timedelta(minutes=1)
_PREFIX_BYTES = 6  # 12 hex characters: identifies the row, not a secret
_SECRET_BYTES = 32  # 256 bits (keys must carry at least 190 bits of entropy)
_KEY_SHAPE = re.compile(r"mk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


class InvalidApiKey(Exception):
    """The string is not a usable API key: malformed, unknown, expired, revoked, or its owner
    is inactive. The reason stays server-side; callers answer one uniform 401."""


class EmailUnverified(PermissionDenied):
    """A self-signed-up account mints keys only once its address is verified (while sign-up
    is open)."""

    code = "email_unverified"


@dataclass(frozen=True)
class MintedKey:
    """A new key: `key` is the full `mk_<prefix>_<secret>`, shown once and never stored."""

    api_key: ApiKey
    key: str


def _check_signed_in(actor: Principal | None) -> None:
    """Only a person's own sign-in (`Principal.is_personal_sign_in`) mints or rotates keys.
    A machine credential or a third-party app acting for the user could otherwise leave
    behind a key that outlives it and its revocation (a key rotating itself, a year-long key
    from a revoked grant)."""
    require_personal_sign_in(actor=actor, action="Minting or rotating an API key")


def _check_email_verified(*, owner: User, actor: Principal | None) -> None:
    """While anyone may sign up, an account that signed itself up mints keys only once its
    address is verified: otherwise whoever registers someone's address first could hold a
    key when its owner takes the account over. Accounts created by an administrator or a
    command are vouched for; an operator's command line (no actor) is trusted."""
    if actor is None or not settings.MICRO_SIGNUP_OPEN:
        return
    if owner.signed_up and not owner.email_verified:
        raise EmailUnverified(
            "Confirm your email address (open the link emailed to you) before minting or"
            " rotating an API key."
        )


def _check_fresh_mfa(*, scopes: Collection[str], actor: Principal | None) -> None:
    if scope_catalogue.API_ADMIN not in scopes:
        return
    # An operator's command line (no actor) is trusted like the database itself.
    require_fresh_mfa(
        actor=actor,
        message="A key with the api_admin scope needs a sign-in with MFA (a one-time code or a"
        " passkey) in the last 15 minutes.",
    )


def _validated_scopes(*, owner: User, scopes: Collection[str], errors: dict[str, str]) -> Any:
    if isinstance(scopes, str):
        errors["scopes"] = "Give a list of scope names."
        return frozenset()
    try:
        wanted = registry.validate_scopes(scopes)
    except scope_catalogue.UnknownScope as exc:
        errors["scopes"] = f"{str(exc).capitalize()}."
        return frozenset()
    missing = sorted(wanted - user_held_scopes(user=owner))
    if not wanted:
        errors["scopes"] = "Choose at least one scope."
    elif missing:
        errors["scopes"] = f"The owner does not hold: {', '.join(missing)}."
    return wanted


def _validated_resource(
    *, resource: str | None, wanted: frozenset[str], errors: dict[str, str]
) -> str | None:
    """The name of the service the key is bound to (None: unbound); its scopes must all be
    ones a token for that service may carry."""
    try:
        service = resource_service(resource)
        check_requested(wanted, service)
    except InvalidTarget as exc:
        errors["resource"] = str(exc)
        return None
    except ScopeOutsideResource as exc:
        errors.setdefault("scopes", f"{str(exc).capitalize()}.")
    return None if service is None else service.name


def _validated(
    *, owner: User, name: str, scopes: Collection[str], expires_in_days: int, resource: str | None
) -> tuple[str, frozenset[str], str | None]:
    """The cleaned name, scopes and bound service; raises ValidationError naming each bad
    field."""
    errors: dict[str, str] = {}
    name = name.strip() if isinstance(name, str) else ""
    if not 0 < len(name) <= 100 or "\x00" in name:
        errors["name"] = "Give a name of 1-100 characters."
    wanted = _validated_scopes(owner=owner, scopes=scopes, errors=errors)
    bound = _validated_resource(resource=resource, wanted=wanted, errors=errors)
    if (
        not isinstance(expires_in_days, int)
        or isinstance(expires_in_days, bool)
        or not 1 <= expires_in_days <= MAX_EXPIRY_DAYS
    ):
        errors["expires_in_days"] = f"Choose a whole number of days from 1 to {MAX_EXPIRY_DAYS}."
    if errors:
        raise ValidationError({field: [message] for field, message in errors.items()})
    return name, wanted, bound


def _mint(
    *,
    owner: User,
    name: str,
    scopes: frozenset[str],
    days: int,
    rotated_from: ApiKey | None,
    resource: str | None,
) -> MintedKey:
    prefix = _new_prefix()
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    api_key = ApiKey.objects.create(
        owner=owner,
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=sorted(scopes),
        expires_at=timezone.now() + timedelta(days=days),
        rotated_from=rotated_from,
        resource=resource,
    )
    return MintedKey(api_key=api_key, key=f"{KEY_PREFIX}{prefix}_{secret}")


def _new_prefix() -> str:
    while True:  # 48 random bits: a collision is rare, but the prefix must be unique
        prefix = secrets.token_hex(_PREFIX_BYTES)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            return prefix


def _audit_data(api_key: ApiKey) -> dict[str, Any]:
    data = {
        "api_key_id": str(api_key.pk),
        "prefix": api_key.prefix,
        "name": api_key.name,
        "owner_id": str(api_key.owner_id),
        "scopes": list(api_key.scopes),
        "expires_at": api_key.expires_at.isoformat(),
    }
    if api_key.resource is not None:
        data["resource"] = api_key.resource
    return data


def api_key_create(
    *,
    owner: User,
    name: str,
    scopes: Collection[str],
    expires_in_days: int = DEFAULT_EXPIRY_DAYS,
    actor: Principal | None,
    resource: str | None = None,
) -> MintedKey:
    """Mints a key for `owner` with a subset of the scopes it holds; the secret is returned once.
    With `resource` (a registered service's audience or name) the key is bound to that
    service: its scopes must be that service's (or `profile`), and it is a credential for
    that service only."""
    name, wanted, bound = _validated(
        owner=owner,
        name=name,
        scopes=scopes,
        expires_in_days=expires_in_days,
        resource=resource,
    )
    _check_signed_in(actor)
    _check_email_verified(owner=owner, actor=actor)
    _check_fresh_mfa(scopes=wanted, actor=actor)
    with transaction.atomic():
        minted = _mint(
            owner=owner,
            name=name,
            scopes=wanted,
            days=expires_in_days,
            rotated_from=None,
            resource=bound,
        )
        audit_record(
            type="api_key.created",
            actor=actor,
            subject_type="api_key",
            subject_id=minted.api_key.pk,
            data=_audit_data(minted.api_key),
        )
    return minted


def api_key_revoke(*, api_key: ApiKey, actor: Principal | None) -> None:
    """Revokes the key at once (every instance: the cached entry is invalidated on commit)."""
    now = timezone.now()
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if not updated:
            return  # already revoked: idempotent, no second event
        api_key.revoked_at = now
        audit_record(
            type="api_key.revoked",
            actor=actor,
            subject_type="api_key",
            subject_id=api_key.pk,
            data=_audit_data(api_key),
        )
        # Access tokens exchanged for this key carry its id as `sid`: they end with it.
        revocation.revoke_families(family_ids=[str(api_key.pk)])
        api_key_cache.user_changed(user_id=api_key.owner_id)


def api_keys_revoke_all(
    *, owner_id: uuid.UUID, actor: Principal | uuid.UUID | None, reason: str
) -> int:
    """Revokes every live key of the owner (neither revoked nor expired; each audited as
    `api_key.revoked` with `reason`), with the tokens exchanged for them; returns how many.
    Call it where a key must not outlive what proved the person: a password reset, logout-all
    with `api_keys`. An expired key is over already: it is neither revoked nor audited again,
    but the tokens exchanged shortly before it expired still end."""
    now = timezone.now()
    with transaction.atomic():
        recent = ApiKey.objects.select_for_update().filter(
            owner_id=owner_id,
            revoked_at__isnull=True,
            expires_at__gt=now - timedelta(seconds=EXCHANGE_TOKEN_TTL),
        )
        keys = list(recent)
        if not keys:
            return 0
        live = [api_key for api_key in keys if api_key.expires_at > now]
        ApiKey.objects.filter(pk__in=[key.pk for key in live]).update(revoked_at=now)
        for api_key in live:
            api_key.revoked_at = now
            audit_record(
                type="api_key.revoked",
                actor=actor,
                subject_type="api_key",
                subject_id=api_key.pk,
                data={**_audit_data(api_key), "reason": reason},
            )
        # A token exchanged for a key lives up to EXCHANGE_TOKEN_TTL, past the key's expiry.
        revocation.revoke_families(family_ids=[str(api_key.pk) for api_key in keys])
        api_key_cache.user_changed(user_id=owner_id)
    return len(live)


def _rotation_checks(api_key: ApiKey, grace_hours: int) -> None:
    if (
        not isinstance(grace_hours, int)
        or isinstance(grace_hours, bool)
        or not 0 <= grace_hours <= MAX_GRACE_HOURS
    ):
        raise ValidationError(
            {"grace_hours": [f"Choose a whole number of hours from 0 to {MAX_GRACE_HOURS}."]}
        )
    if api_key.revoked_at is not None or api_key.expires_at <= timezone.now():
        raise ValidationError("A revoked or expired key cannot be rotated.", code="key_inactive")
    if ApiKey.objects.filter(rotated_from=api_key).exists():
        raise ValidationError(
            "This key was already rotated; rotate its replacement.", code="already_rotated"
        )


def api_key_rotate(*, api_key: ApiKey, grace_hours: int, actor: Principal | None) -> MintedKey:
    """Mints a replacement (same name, bound service and scopes still held, the old key's
    lifetime counted from now) and lets the old key expire `grace_hours` from now."""
    _check_signed_in(actor)
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().select_related("owner").get(pk=api_key.pk)
        _rotation_checks(api_key, grace_hours)
        _check_email_verified(owner=api_key.owner, actor=actor)
        scopes = frozenset(api_key.scopes) & user_held_scopes(user=api_key.owner)
        if not scopes:
            message = "The owner no longer holds any of the key's scopes."
            raise ValidationError({"scopes": [message]})
        _check_fresh_mfa(scopes=scopes, actor=actor)
        lifetime = round((api_key.expires_at - api_key.created_at) / timedelta(days=1))
        days = min(max(lifetime, 1), MAX_EXPIRY_DAYS)
        minted = _mint(
            owner=api_key.owner,
            name=api_key.name,
            scopes=scopes,
            days=days,
            rotated_from=api_key,
            resource=api_key.resource,
        )
        api_key.expires_at = min(api_key.expires_at, timezone.now() + timedelta(hours=grace_hours))
        api_key.save(update_fields=["expires_at"])
        audit_record(
            type="api_key.rotated",
            actor=actor,
            subject_type="api_key",
            subject_id=api_key.pk,
            data={**_audit_data(minted.api_key), "rotated_from": str(api_key.pk)},
        )
        api_key_cache.user_changed(user_id=api_key.owner_id)
    return minted


def _parse(raw: str) -> tuple[str, str]:
    match = _KEY_SHAPE.fullmatch(raw) if isinstance(raw, str) and len(raw) <= 128 else None
    if match is None:
        raise InvalidApiKey("malformed")
    return match.group(1), match.group(2)


def _entry_load(prefix: str) -> dict[str, Any] | None:
    """Builds the cache entry from the database (generations read first: see api_key_cache)."""
    owner_id = ApiKey.objects.filter(prefix=prefix).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return None
    global_gen, user_gen = api_key_cache.generations_read(user_id=owner_id)
    api_key = ApiKey.objects.select_related("owner").filter(prefix=prefix).first()
    if api_key is None:
        return None
    owner = api_key.owner
    memberships = user_memberships(user=owner)
    entry = {
        "id": str(api_key.pk),
        "owner_id": str(owner.pk),
        "secret_hash": api_key.secret_hash,
        "scopes": list(api_key.scopes),
        "expires_at": api_key.expires_at.timestamp(),
        "revoked": api_key.revoked_at is not None,
        "resource": api_key.resource,
        "username": owner.username,
        "kind": owner.kind,
        "active": owner.is_active,
        "groups": sorted(str(group_id) for group_id, _ in memberships),
        "held": sorted(user_held_scopes(user=owner, memberships=memberships)),
        "global_gen": global_gen,
        "user_gen": user_gen,
    }
    api_key_cache.entry_put(prefix=prefix, entry=entry)
    return entry


def _principal(entry: dict[str, Any], secret: str) -> Principal:
    # Constant-time comparison of the hashes; the checks below leak nothing a caller without
    # the secret could learn, because they run only after the secret matched.
    if not hmac.compare_digest(entry["secret_hash"], hash_secret(secret)):
        raise InvalidApiKey("wrong secret")
    if entry["revoked"] or entry["expires_at"] <= time.time() or not entry["active"]:
        raise InvalidApiKey("revoked, expired, or owner inactive")
    held = frozenset(entry["held"])
    return Principal(
        user_id=uuid.UUID(entry["owner_id"]),
        username=entry["username"],
        kind=entry["kind"],
        group_ids=tuple(uuid.UUID(group_id) for group_id in entry["groups"]),
        # Re-intersected with what the owner holds now, so a scope taken away applies at once.
        scopes=scope_catalogue.implied(entry["scopes"]) & held,
        method="api_key",
        amr=("api_key",),
        api_key_id=uuid.UUID(entry["id"]),
        resource=entry.get("resource"),
    )


def _touch(api_key_id: uuid.UUID) -> None:
    """Writes `last_used_at`, at most once a minute per key whatever the number of workers."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key_id).exclude(last_used_at__gt=now - LAST_USED_INTERVAL).update(
        last_used_at=now
    )


def _entry(prefix: str, *, fresh: bool) -> tuple[dict[str, Any] | None, bool]:
    """The key's current entry (None for an unknown prefix) and whether it was rebuilt from
    the database: from the process memo while the state generation is unchanged (unless
    `fresh`), else from the shared cache, else from the database."""
    memo_key = ("api_key", prefix)
    epoch = None if fresh else state.memo.epoch()  # before the fetch: see authn/state.py
    remembered = state.MISSING if epoch is None else state.memo.lookup(memo_key)
    if remembered is not state.MISSING:
        return remembered, False
    entry = api_key_cache.entry_get(prefix=prefix)
    missed = entry is None
    if entry is None:
        entry = _entry_load(prefix)
    if entry is not None:
        state.memo.store(epoch, memo_key, entry, expires=api_key_cache.entry_expiry(entry))
    return entry, missed


def api_key_authenticate(*, raw: str, fresh: bool = False) -> Principal:
    """The principal of a valid key; raises InvalidApiKey otherwise. A cache hit runs no query;
    a change to the key, its owner or the owner's groups applies within
    MICRO_REVOCATION_POLL_MS (at once with `fresh`, which reads the shared cache), and an
    unreadable cache past that raises DependencyError (503)."""
    prefix, secret = _parse(raw)
    entry, missed = _entry(prefix, fresh=fresh)
    if entry is None:
        hash_secret(secret)  # the same work as for a known prefix
        raise InvalidApiKey("unknown prefix")
    principal = _principal(entry, secret)
    if missed:
        _touch(principal.api_key_id)  # type: ignore[arg-type]
    return principal


def _exchange_target(principal: Principal, resource: ServiceEntry | None) -> ServiceEntry | None:
    """The service the exchanged token is for: the one a bound key is bound to (a request
    naming another is InvalidTarget), else the one requested, if any."""
    if principal.resource is None:
        return resource
    # By name, which never changes: an audience may since name another service.
    bound = registry.service_named(principal.resource)
    if bound is None:
        raise InvalidTarget(f"The service {principal.resource} this key is bound to is gone.")
    if resource is not None and resource.name != bound.name:
        raise InvalidTarget(f"This API key is bound to the service {bound.name}.")
    return bound


def api_key_exchange(
    *, principal: Principal, ip_address: str | None, resource: ServiceEntry | None = None
) -> IssuedAccessToken:
    """A short-lived access token with the key's effective scopes; it ends when the key is
    revoked (its `sid` is the key's id). A key bound to a service, or a `resource`, makes it
    a token for that service (its `aud`, its scopes and `profile` only)."""
    if principal.method != "api_key" or principal.api_key_id is None:
        raise InvalidApiKey("not an API-key principal")
    target = _exchange_target(principal, resource)
    issued = access_token_issue(
        subject=principal.user_id,
        username=principal.username,
        kind=principal.kind,
        scopes=narrowed(principal.scopes, target),
        audience=audience_of(target),
        group_ids=principal.group_ids,
        amr=("api_key",),
        session_id=principal.api_key_id,
        lifetime=min(settings.MICRO_ACCESS_TOKEN_TTL, EXCHANGE_TOKEN_TTL),
    )
    with transaction.atomic():
        audit_record(
            type="token.issued",
            actor=principal,
            subject_type="api_key",
            subject_id=principal.api_key_id,
            ip_address=ip_address,
            data={"scope": issued.scope, "grant": "api_key", **audit_detail(target)},
        )
    metrics.token_issued(path="api", grant="exchange")
    return issued
