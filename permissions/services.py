"""Writes of grants: upsert and revoke, authorized and audited.

Every grant change writes an `access.granted` / `access.revoked` audit event. The events live
in `authn` on the default database, the grants in the grants database (the same one unless
`OBJECTS_DATABASE_URL` is set):

- one database: the event and the change commit in one transaction (all or nothing);
- two databases: no transaction spans both, so the order decides what a crash in between
  leaves behind. The event commits FIRST, inside the still-open grants transaction, and the
  grant commits after it. A failure between the two commits leaves an event for a change that
  did not happen (an over-report an auditor can reconcile against the grants table), never a
  change without its event. A failure writing the event rolls the grant back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, router, transaction

from audit.services import audit_record
from micro_platform.identity import Principal
from permissions.models import Grant
from permissions.selectors import subject_filter

ACCESS_GRANTED = "access.granted"
ACCESS_REVOKED = "access.revoked"


class AccessDenied(Exception):
    """The actor may not manage grants on this object."""


def grants_db() -> str:
    """The database alias holding the grants (and every table the router sends with them)."""
    return router.db_for_write(Grant) or DEFAULT_DB_ALIAS


@contextmanager
def audited(*, using: str | None = None) -> Iterator[None]:
    """A grants-database transaction whose audit events commit first (see the module docs)."""
    with transaction.atomic(using=using or grants_db()):
        yield


def _audit(*, type: str, actor: Principal | None, grant: Grant, data: dict[str, object]) -> None:
    # Nested in the grants transaction: a savepoint when both are one database, otherwise a
    # transaction on `default` that commits before the grants one (module docs).
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        audit_record(
            type=type,
            actor=actor,
            subject_type=grant.object_type[:32],
            subject_id=grant.object_id,
            data={
                "grant_id": str(grant.pk),
                "object_type": grant.object_type,
                "object_id": grant.object_id,
                "subject_type": grant.subject_type,
                "subject_id": str(grant.subject_id),
                **data,
            },
        )


def access_may_manage(*, principal: Principal, object_type: str, object_id: str) -> bool:
    """`api_admin`, or a holder of `admin` on the object (directly or through a group).

    Inside a transaction on PostgreSQL the admin grant is locked (FOR NO KEY UPDATE), so a
    concurrent revocation of that admin grant cannot interleave with the change it authorizes.
    """
    if principal.is_admin:
        return True
    rows = Grant.objects.filter(
        subject_filter(user_id=principal.user_id, group_ids=principal.group_ids),
        object_type=object_type,
        object_id=object_id,
        admin=True,
    )
    if transaction.get_connection(grants_db()).in_atomic_block:
        rows = rows.select_for_update(no_key=True)
    return bool(list(rows.values_list("pk", flat=True)[:1]))


def _authorize(*, actor: Principal | None, object_type: str, object_id: str) -> None:
    # `None` is the operator at the command line (grant_access), already trusted.
    if actor is not None and not access_may_manage(
        principal=actor, object_type=object_type, object_id=object_id
    ):
        raise AccessDenied("Only api_admin or an admin of this object may manage its grants.")


def access_grant(
    *,
    actor: Principal | None,
    object_type: str,
    object_id: str,
    subject_type: str,
    subject_id: uuid.UUID,
    read: bool,
    write: bool,
    admin: bool,
) -> tuple[Grant, bool]:
    """Creates or replaces the one grant of a subject on an object; returns (grant, created).

    Raises AccessDenied unless the actor is api_admin or an admin of the object.
    """
    with audited():
        _authorize(actor=actor, object_type=object_type, object_id=object_id)
        flags = {"read": read, "write": write, "admin": admin}
        return _upsert(
            actor=actor,
            object_type=object_type,
            object_id=object_id,
            subject_type=subject_type,
            subject_id=subject_id,
            flags=flags,
        )


def access_grant_creator(*, actor: Principal, object_type: str, object_id: str) -> Grant:
    """Makes the creator of a NEW object its reader, writer and admin.

    No authorization: the calling service must call it in the transaction that creates the
    object, so nobody else can hold grants on it yet.
    """
    with audited():
        grant, _ = _upsert(
            actor=actor,
            object_type=object_type,
            object_id=object_id,
            subject_type=Grant.SubjectType.USER,
            subject_id=actor.user_id,
            flags={"read": True, "write": True, "admin": True},
        )
    return grant


def _upsert(
    *,
    actor: Principal | None,
    object_type: str,
    object_id: str,
    subject_type: str,
    subject_id: uuid.UUID,
    flags: dict[str, bool],
) -> tuple[Grant, bool]:
    grant, created = Grant.objects.update_or_create(
        object_type=object_type,
        object_id=object_id,
        subject_type=subject_type,
        subject_id=subject_id,
        defaults={**flags, "granted_by": actor.user_id if actor else None},
    )
    _audit(type=ACCESS_GRANTED, actor=actor, grant=grant, data={**flags, "created": created})
    return grant, created


def access_revoke(*, actor: Principal | None, grant: Grant) -> None:
    """Deletes one grant; the next request of its subject is checked without it."""
    with audited():
        _authorize(actor=actor, object_type=grant.object_type, object_id=grant.object_id)
        deleted, _ = Grant.objects.filter(pk=grant.pk).delete()
        if deleted:
            _audit(type=ACCESS_REVOKED, actor=actor, grant=grant, data={})


def access_revoke_object(*, actor: Principal | None, object_type: str, object_id: str) -> int:
    """Deletes every grant on an object (the object is gone), one event per grant.

    The caller authorizes (it holds the object's own rule) and opens the transaction.
    """
    grants = list(Grant.objects.filter(object_type=object_type, object_id=object_id))
    Grant.objects.filter(pk__in=[grant.pk for grant in grants]).delete()
    for grant in grants:
        _audit(type=ACCESS_REVOKED, actor=actor, grant=grant, data={"object_deleted": True})
    return len(grants)
