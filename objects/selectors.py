"""Reads of objects, filtered in the query by the caller's grants."""

from __future__ import annotations

from django.db.models import QuerySet

from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from objects.models import Object
from permissions.selectors import (
    PageWindow,
    Permission,
    filter_granted,
    filter_granted_page,
    principal_may,
)

OBJECT_TYPE = "object"


def objects_granted_to(*, principal: Principal, permission: Permission) -> QuerySet[Object]:
    """Objects the principal may read and holds `permission` on, as EXISTS filters of one query.

    Read is always required too: `write` implies no other grant, and an object its
    caller cannot read stays hidden (404) whatever else it holds.
    """
    readable = filter_granted(
        Object.objects.all(), principal=principal, object_type=OBJECT_TYPE, permission="read"
    )
    if permission == "read":
        return readable
    return filter_granted(
        readable, principal=principal, object_type=OBJECT_TYPE, permission=permission
    )


def objects_readable_by(*, principal: Principal) -> QuerySet[Object]:
    return objects_granted_to(principal=principal, permission="read")


def objects_readable_page(*, principal: Principal, window: PageWindow) -> QuerySet[Object]:
    """`objects_readable_by` for one cursor page by id: the same rows, read from the
    principal's grants when they come through groups (`filter_granted_page`)."""
    return filter_granted_page(
        Object.objects.all(), principal=principal, object_type=OBJECT_TYPE, window=window
    )


def parse_object_id(value: str) -> str | None:
    """The canonical id text from untrusted input (any case, braces), or None when malformed."""
    parsed = parse_uuid(value)
    return str(parsed) if parsed else None


def object_get_readable(*, principal: Principal, object_id: str) -> Object | None:
    """The object when the principal may read it; None when missing or not readable alike."""
    return objects_readable_by(principal=principal).filter(pk=object_id).first()


def object_may(*, principal: Principal, object_id: str, permission: Permission) -> bool:
    return principal_may(
        principal=principal, object_type=OBJECT_TYPE, object_id=object_id, permission=permission
    )
