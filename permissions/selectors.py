"""Reads of grants: checks and the queryset filter, each one query in the grants database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from django.db import connections, models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from permissions.models import Grant

Permission = Literal["read", "write", "admin"]
PERMISSIONS: tuple[Permission, ...] = ("read", "write", "admin")
M = TypeVar("M", bound=models.Model)
# Past this many subjects (the user and their groups) a page is read with the EXISTS filter
# alone: one ordered range of the grants index per subject stops paying off, and SQLite caps
# the terms of a compound SELECT at 500.
PAGE_SUBJECTS_MAX = 64


@dataclass(frozen=True)
class PageWindow:
    """One cursor page of rows ordered by id: the ids after `position` (before it when
    `reverse`, in descending order), `rows` of them at most, the page and the rows the
    cursor skips and looks ahead included. No position: from the first (or last) id."""

    position: str | None
    reverse: bool
    rows: int


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


def filter_granted_page(
    queryset: QuerySet[M], *, principal: Principal, object_type: str, window: PageWindow
) -> QuerySet[M]:
    """`filter_granted` (read) for one cursor page ordered by primary key: the same rows.

    For a principal with groups the page is driven from their grants: each subject's
    ordered range of the grants index gives its first `window.rows` ids of existing rows
    past the cursor, and the page is read among those (at most `window.rows` per subject,
    whatever the table sizes and however sparse the readable rows) instead of walking the
    table in id order until enough readable rows turn up (bench/README.md, P8g). Every row
    of the page is among them, since no subject holds more than `window.rows - 1` grants on
    rows ahead of it, and each range holds only ids the subject reads (the rule of
    `subject_filter`, one subject at a time), so nothing else can enter the page.
    """
    granted = filter_granted(queryset, principal=principal, object_type=object_type)
    subjects = [(Grant.SubjectType.GROUP.value, group_id) for group_id in principal.group_ids]
    if not subjects or len(subjects) + 1 > PAGE_SUBJECTS_MAX:
        return granted  # one subject: its grants index range is already in id order
    subjects.insert(0, (Grant.SubjectType.USER.value, principal.user_id))
    return queryset.filter(pk__in=_granted_ranges(queryset, subjects, object_type, window))


def _granted_ranges(
    queryset: QuerySet[Any],
    subjects: list[tuple[str, uuid.UUID]],
    object_type: str,
    window: PageWindow,
) -> RawSQL:
    """`_first_granted_ids` of every subject, as one UNION ALL.

    The ORM compiles one range per subject type (compiling each range costs about as much as
    the database takes to read them all), for a random placeholder subject id; each subject
    then uses that SQL with its own id in the one parameter that holds the placeholder. The
    values stay parameters throughout. The union is written by hand because Django cannot
    slice the parts of a union on SQLite.
    """
    connection = connections[queryset.db]
    subject_field = Grant._meta.get_field("subject_id")
    compiled: dict[str, tuple[str, list[Any], int]] = {}
    parts, params = [], []
    for number, (subject_type, subject_id) in enumerate(subjects):
        if subject_type not in compiled:
            placeholder = uuid.uuid4()
            ids = _first_granted_ids(
                queryset, (subject_type, placeholder), object_type=object_type, window=window
            )
            sql, ids_params = ids.query.get_compiler(connection=connection).as_sql()
            template = list(ids_params)
            slots = [
                index
                for index, param in enumerate(template)
                if param == subject_field.get_db_prep_value(placeholder, connection)
            ]
            if len(slots) != 1:  # the subject's id is not one parameter: no reuse
                raise RuntimeError("the grants range does not hold the subject id once")
            compiled[subject_type] = (sql, template, slots[0])
        sql, template, slot = compiled[subject_type]
        value = subject_field.get_db_prep_value(subject_id, connection)
        parts.append(f"SELECT page_{number}.object_id FROM ({sql}) page_{number}")  # noqa: S608
        params += [*template[:slot], value, *template[slot + 1 :]]
    return RawSQL(" UNION ALL ".join(parts), params)  # noqa: S611 - parameters only


def _first_granted_ids(
    queryset: QuerySet[Any],
    subject: tuple[str, uuid.UUID],
    *,
    object_type: str,
    window: PageWindow,
) -> QuerySet[Any]:
    """The first `window.rows` ids past the cursor, in page order, of rows of `queryset`
    that one subject holds read on (a grant naming a missing row takes no place)."""
    subject_type, subject_id = subject
    ids = Grant.objects.filter(
        Exists(queryset.filter(pk=OuterRef("object_id"))),
        subject_type=subject_type,
        subject_id=subject_id,
        object_type=object_type,
        read=True,
    )
    if window.position is not None:
        bound = "object_id__lt" if window.reverse else "object_id__gt"
        ids = ids.filter(**{bound: window.position})
    order = "-object_id" if window.reverse else "object_id"
    return ids.order_by(order).values_list("object_id", flat=True)[: window.rows]


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
