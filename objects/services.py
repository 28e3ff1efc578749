"""Writes of objects. Access checks are part of each write statement, never a separate step."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from micro_platform.identity import Principal
from objects.models import Object
from objects.selectors import OBJECT_TYPE, object_may, objects_granted_to
from permissions.selectors import Permission
from permissions.services import access_grant_creator, access_revoke_object, audited


class NotFoundError(Exception):
    """Missing, or not readable by the actor: the two are indistinguishable on purpose."""


class ForbiddenError(Exception):
    """Readable by the actor, but the operation needs a grant it lacks."""


class VersionConflict(Exception):
    """The object changed since the version the client read."""


def object_create(*, actor: Principal, name: str, value: Any) -> Object:
    """Stores an object and grants its creator read+write+admin in the same transaction."""
    with audited():
        obj = Object.objects.create(name=name, value=value, owner_id=actor.user_id)
        access_grant_creator(actor=actor, object_type=OBJECT_TYPE, object_id=obj.pk)
    return obj


def _why_not(*, actor: Principal, object_id: str, permission: Permission) -> Exception:
    """After a write matched no row: hidden (404), forbidden (403) or a stale version (409)."""
    if not object_may(principal=actor, object_id=object_id, permission="read"):
        return NotFoundError()
    if not Object.objects.filter(pk=object_id).exists():
        return NotFoundError()
    if not object_may(principal=actor, object_id=object_id, permission=permission):
        return ForbiddenError()
    return VersionConflict()


def object_update(
    *, actor: Principal, object_id: str, changes: dict[str, Any], version: int | None = None
) -> Object:
    """One UPDATE … WHERE id AND EXISTS(write grant) [AND version]: no check-then-act race."""
    with audited():
        rows = objects_granted_to(principal=actor, permission="write").filter(pk=object_id)
        if version is not None:
            rows = rows.filter(version=version)
        updated = rows.update(**changes, version=F("version") + 1, updated_at=timezone.now())
        if not updated:
            raise _why_not(actor=actor, object_id=object_id, permission="write")
        # Our UPDATE holds the row lock until commit: this reads exactly what it wrote.
        return Object.objects.get(pk=object_id)


def object_delete(*, actor: Principal, object_id: str) -> None:
    """One DELETE … WHERE id AND EXISTS(admin grant); the object's grants go with it."""
    with audited():
        deleted, _ = (
            objects_granted_to(principal=actor, permission="admin").filter(pk=object_id).delete()
        )
        if not deleted:
            raise _why_not(actor=actor, object_id=object_id, permission="admin")
        access_revoke_object(actor=actor, object_type=OBJECT_TYPE, object_id=object_id)
