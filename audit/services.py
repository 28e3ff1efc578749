"""Audit events: recorded inside the caller's transaction, never carrying a secret.

What an event may say beyond who, what and when is an allow-list per event type
(`EVENT_DATA_KEYS`): a detail key not listed for its type never reaches the table or a log
line, so a caller that passes a password, a code or a client secret under any name leaks
nothing. Such a key is a bug in the caller, so it is loud: with `MICRO_AUDIT_STRICT` (on in
development and in the tests) `audit_record` raises; in production the event is still written
without the key and a warning names the type and the key (never its value), because refusing
the action the user asked for would not make the audit trail any better.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.db.models import Model

from audit.models import AuditEvent
from micro_platform.identity import Principal
from micro_platform.inserts import NewRows, insert_together, insertable_together

logger = logging.getLogger("micro.audit")

_API_KEY = frozenset(
    {"api_key_id", "prefix", "name", "owner_id", "scopes", "expires_at", "resource"}
)
_GRANT = frozenset({"grant_id", "object_type", "object_id", "subject_type", "subject_id"})
_ROLE = frozenset({"role_id", "name"})
_NOTHING: frozenset[str] = frozenset()

# Every event type the service records, with the detail keys it may carry. A new event type
# or detail is added here on purpose; a test walks every `audit_record` call against it.
EVENT_DATA_KEYS: Mapping[str, frozenset[str]] = {
    # Accounts and groups
    "user.created": frozenset({"kind", "username", "fields", "via"}),
    "user.updated": frozenset({"fields", "via"}),
    "user.deactivated": frozenset({"via"}),
    "email.verified": _NOTHING,
    "password.changed": frozenset({"method", "via"}),
    "password.reset_requested": _NOTHING,
    "group.created": frozenset({"name", "scopes"}),
    "group.updated": frozenset({"name", "scopes"}),
    "group.member_added": frozenset({"user_id", "role"}),
    "group.member_updated": frozenset({"user_id", "role"}),
    "group.member_removed": frozenset({"user_id"}),
    # Sign-in, MFA, sessions and tokens
    "login.succeeded": frozenset({"method", "amr", "sid", "session", "idp"}),
    "login.failed": frozenset({"method", "idp", "reason"}),
    "login.locked": frozenset({"method"}),
    "login.unlocked": _NOTHING,
    "mfa.enrolled": frozenset({"device", "credential"}),
    "mfa.failed": frozenset({"device", "reason"}),
    "mfa.removed": frozenset({"device", "credential", "via"}),
    "mfa.renamed": frozenset({"device", "credential"}),
    "mfa.passkey_cloned": frozenset({"credential", "sign_count", "stored_sign_count"}),
    "mfa.backup_codes_regenerated": _NOTHING,
    "session.revoked": _NOTHING,
    "token.issued": frozenset({"scope", "grant", "grant_type", "resource"}),
    "token.refreshed": frozenset({"scope", "grant_type", "resource"}),
    "token.revoked": frozenset({"scope"}),
    "token.reuse_detected": frozenset({"client_id", "grant_type"}),
    "signing_key.rotated": frozenset({"retired"}),
    # API keys and OAuth clients
    "api_key.created": _API_KEY,
    "api_key.revoked": _API_KEY | {"reason"},
    "api_key.rotated": _API_KEY | {"rotated_from"},
    "oauth_client.created": frozenset({"name", "grant_type", "owner_id"}),
    "oauth_client.deleted": _NOTHING,
    # Identity providers (federation) and accounts' links to them
    "identity_provider.created": frozenset({"slug", "fields", "via"}),
    "identity_provider.updated": frozenset({"slug", "fields", "via"}),
    "identity_provider.deleted": frozenset({"slug", "identities", "via"}),
    "external_identity.linked": frozenset({"idp", "subject", "via"}),
    "external_identity.unlinked": frozenset({"idp", "subject", "via"}),
    "federation.refused": frozenset({"idp", "reason"}),
    # Object access
    "access.granted": _GRANT | {"read", "write", "admin", "created"},
    "access.revoked": _GRANT | {"object_deleted"},
    # The scope registry and roles
    "service.created": frozenset({"name", "audience"}),
    "service.updated": frozenset({"name", "fields"}),
    "service.deleted": frozenset({"name", "forced", "removed_from"}),
    "scope.created": frozenset({"name", "service"}),
    "scope.updated": frozenset({"name", "fields"}),
    "scope.deleted": frozenset({"name", "service", "forced", "removed_from"}),
    "role.created": _ROLE | {"scopes"},
    "role.updated": _ROLE | {"fields", "scopes"},
    "role.deleted": _ROLE | {"assignments"},
    "role.assigned": _ROLE | {"subject_type", "subject_id"},
    "role.unassigned": _ROLE | {"subject_type", "subject_id"},
}


class AuditDataNotAllowed(ValueError):
    """An event type without an allow-list entry, or a detail key not on its list."""


def allowed_data(type: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The details of `data` that an event of `type` may carry; the rest is dropped, loudly
    (raises AuditDataNotAllowed under `MICRO_AUDIT_STRICT`, else a warning naming the keys)."""
    payload = dict(data or {})
    allowed = EVENT_DATA_KEYS.get(type)
    dropped = sorted(payload) if allowed is None else sorted(set(payload) - allowed)
    if allowed is None or dropped:
        problem = (
            f"unknown audit event type {type!r}"
            if allowed is None
            else f"audit event {type!r} may not carry {dropped}"
        )
        if getattr(settings, "MICRO_AUDIT_STRICT", False):
            raise AuditDataNotAllowed(problem)
        logger.warning("audit details dropped: %s", problem)
    return {key: value for key, value in payload.items() if key not in dropped}


@dataclass(frozen=True)
class AuditEntry:
    """One event for `audit_record_many`, with `audit_record`'s arguments."""

    type: str
    actor: Principal | uuid.UUID | None
    subject_type: str = ""
    subject_id: str | uuid.UUID = ""
    ip_address: str | None = None
    data: Mapping[str, Any] | None = None


def audit_record(
    *,
    type: str,
    actor: Principal | uuid.UUID | None,
    subject_type: str = "",
    subject_id: str | uuid.UUID = "",
    ip_address: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Writes one event in the current transaction, with only the details its type allows."""
    entry = AuditEntry(
        type=type,
        actor=actor,
        subject_type=subject_type,
        subject_id=subject_id,
        ip_address=ip_address,
        data=data,
    )
    event = _event(entry)
    event.save(force_insert=True)
    _log_on_commit(event)
    return event


def audit_with_row_is_one_statement(model: type[Model]) -> bool:
    """Whether `audit_record_with_row` writes a row of `model` and its event with one
    statement, which needs no transaction around it."""
    using = router.db_for_write(model)
    return router.db_for_write(AuditEvent) == using and insertable_together(
        AuditEvent, model, using=using
    )


def audit_record_with_row(*, row: Model, entry: AuditEntry) -> AuditEvent:
    """Stores the new `row` and the event `entry` about it together: both or neither. Where
    the database allows it (micro_platform.inserts) that is one statement, atomic by itself,
    in one round trip; else `row` is saved, then the event, in the current transaction (or
    in one opened here, with no savepoint inside the caller's)."""
    event = _event(entry)
    using = router.db_for_write(type(row))
    if audit_with_row_is_one_statement(type(row)):
        insert_together(event, row, using=using)
    else:
        with transaction.atomic(using=using, savepoint=False):
            row.save(force_insert=True, using=using)
            event.save(force_insert=True)
    _log_on_commit(event)
    return event


def audit_record_many(
    *, entries: Sequence[AuditEntry], rows: NewRows | None = None
) -> list[AuditEvent]:
    """Writes several events in one insert in the current transaction, each as `audit_record`
    would (its allow-list applied); they are stamped in the order given. With `rows`, the
    events are added to them, and stored when they are (in the same statement, where the
    database allows: see micro_platform.inserts)."""
    events = [_event(entry) for entry in entries]
    if rows is None:
        events = AuditEvent.objects.bulk_create(events)
    else:
        rows.add_many(events)
    for event in events:
        _log_on_commit(event)
    return events


def _event(entry: AuditEntry) -> AuditEvent:
    actor = entry.actor
    return AuditEvent(
        type=entry.type,
        actor_id=actor.user_id if isinstance(actor, Principal) else actor,
        subject_type=entry.subject_type,
        # Untrusted strings (an attempted username) may hold NUL, which PostgreSQL refuses.
        subject_id=str(entry.subject_id).replace("\x00", "")[:255],
        ip_address=entry.ip_address,
        data=allowed_data(entry.type, entry.data),
    )


def _log_on_commit(event: AuditEvent) -> None:
    type, actor_id = event.type, event.actor_id
    subject_type, subject_id = event.subject_type, event.subject_id
    transaction.on_commit(
        lambda: logger.info(
            "audit type=%s actor=%s subject=%s:%s", type, actor_id, subject_type, subject_id
        )
    )
