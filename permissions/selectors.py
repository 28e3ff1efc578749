"""Reads of grants: checks and the queryset filter, each one query in the grants database."""

from __future__ import annotations

import uuid
from typing import Literal, TypeVar

from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet

from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from permissions.models import Grant

Permission = Literal["read", "write", "admin"]
PERMISSIONS: tuple[Permission, ...] = ("read", "write", "admin")
M = TypeVar("M", bound=models.Model)


def subject_filter(*, user_id: uuid.UUID, group_ids: tuple[uuid.UUID, ...] = ()) -> Q:
    """Grants held by the user directly or through any of `group_ids`.

    With groups this is written as "the subject id is one of these ids, and not a user grant
    naming a group id nor a group grant naming the user id" rather than as an OR of (type, id)
    pairs: the same grants, but the id list is one `subject_id = ANY(…)` range of the grants
    index and PostgreSQL estimates the exclusions as the near-certainties they are, so the list
    filter stays a semi-join whose cost follows the principal's grants (`granted_filter`).
    The exclusions cover both other combinations because `subject_type` has exactly two
    values (the `grant_subject_type_valid` constraint); a third type would need its own.
    """
    user = Q(subject_type=Grant.SubjectType.USER, subject_id=user_id)
    if not group_ids:
        return user
    return (
        Q(subject_id__in=(user_id, *group_ids))
        & ~Q(subject_type=Grant.SubjectType.GROUP, subject_id=user_id)
        & ~Q(subject_type=Grant.SubjectType.USER, subject_id__in=group_ids)
    )


def holds(permission: Permission) -> Q:
    """Grants carrying `permission`; anything but read/write/admin is a programming error."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return Q((permission, True))


def access_check(
    *,
    user_id: uuid.UUID,
    group_ids: tuple[uuid.UUID, ...],
    object_type: str,
    object_id: str,
    permission: Permission,
) -> bool:
    """True when a grant of the user or one of their groups holds `permission` (one query)."""
    return (
        Grant.objects.filter(object_type=object_type, object_id=object_id)
        .filter(holds(permission))
        .filter(subject_filter(user_id=user_id, group_ids=group_ids))
        .exists()
    )


def principal_may(
    *, principal: Principal, object_type: str, object_id: str, permission: Permission
) -> bool:
    return access_check(
        user_id=principal.user_id,
        group_ids=principal.group_ids,
        object_type=object_type,
        object_id=object_id,
        permission=permission,
    )


def principal_permissions(
    *, principal: Principal, object_type: str, object_id: str
) -> frozenset[Permission]:
    """Every permission the principal holds on the object, directly or through a group (one
    query: the principal's few grant rows on it)."""
    rows = (
        Grant.objects.filter(object_type=object_type, object_id=object_id)
        .filter(subject_filter(user_id=principal.user_id, group_ids=principal.group_ids))
        .values_list(*PERMISSIONS)
    )
    return frozenset(
        permission
        for row in rows
        for permission, held in zip(PERMISSIONS, row, strict=True)
        if held
    )


def granted_filter(
    *, principal: Principal, object_type: str, permission: Permission, id_field: str = "pk"
) -> Exists:
    """One EXISTS over the principal's grants on the outer row, to filter in the same query.

    PostgreSQL turns it into a semi-join. For a user without groups it walks that user's grants
    index range in object order, so a page ordered by id costs a page of index entries; with
    groups it reads the principal's grant ids from the index (`subject_id = ANY(…)`) and merges
    them with the objects in id order: the cost follows the grants the principal holds, never
    the size of the tables (bench/README.md, P8).
    """
    return Exists(
        Grant.objects.filter(
            subject_filter(user_id=principal.user_id, group_ids=principal.group_ids),
            holds(permission),
            object_type=object_type,
            object_id=OuterRef(id_field),
        )
    )


def filter_granted(
    queryset: QuerySet[M],
    *,
    principal: Principal,
    object_type: str,
    permission: Permission = "read",
    id_field: str = "pk",
) -> QuerySet[M]:
    """`queryset` narrowed to rows the principal holds `permission` on; still one query.

    The queryset's table must live in the grants database and its `id_field` be a string
    (the grants key objects by string).
    """
    condition = granted_filter(
        principal=principal, object_type=object_type, permission=permission, id_field=id_field
    )
    return queryset.filter(condition)


def grant_get(*, grant_id: object) -> Grant | None:
    parsed = parse_uuid(grant_id)
    return Grant.objects.filter(pk=parsed).first() if parsed else None


def grants_matching(
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
) -> QuerySet[Grant]:
    """Grants matching every given filter (None means any)."""
    filters = {
        "object_type": object_type,
        "object_id": object_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
    }
    return Grant.objects.filter(
        **{key: value for key, value in filters.items() if value is not None}
    )
