"""Reads of roles: what a user holds through them, one query in the permissions database."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet

from micro_platform.compiled import RowsByParams
from permissions.models import Role, RoleAssignment


def _role_scopes_query(user_id: uuid.UUID, group_ids: tuple[uuid.UUID, ...]) -> QuerySet[Any]:
    given = Q(subject_type="user", subject_id=user_id)
    if group_ids:
        given |= Q(subject_type="group", subject_id__in=group_ids)
    return RoleAssignment.objects.filter(given).values_list("role__scopes")


def _role_scopes_params(
    connection: Any, user_id: uuid.UUID, group_ids: tuple[uuid.UUID, ...]
) -> list[Any]:
    # In the statement's order: a Q's keywords are sorted by name (subject_id, then
    # subject_type); the compiled statement is checked to take exactly these.
    prepare = RoleAssignment._meta.get_field("subject_id").get_db_prep_value
    params = [prepare(user_id, connection), "user"]
    if group_ids:
        params += [*(prepare(group_id, connection) for group_id in group_ids), "group"]
    return params


# Every token issue reads the roles: the statement is compiled once per number of groups.
_ROLE_SCOPES = RowsByParams(
    RoleAssignment,
    build=_role_scopes_query,
    shape=lambda user_id, group_ids: len(group_ids),
    params=_role_scopes_params,
)


def role_scopes_of(*, user_id: uuid.UUID, group_ids: tuple[uuid.UUID, ...]) -> frozenset[str]:
    """The scopes of the roles given to the user or to any of `group_ids` (one query, on the
    assignments' subject index, unordered: every token issue runs it)."""
    held: set[str] = set()
    for (scopes,) in _ROLE_SCOPES.get(user_id, tuple(dict.fromkeys(group_ids))):
        held.update(scopes or ())
    return frozenset(held)


def roles_given_to(*, subject_type: str, subject_id: uuid.UUID) -> QuerySet[Role]:
    """The roles given to one user or one group, as a queryset to paginate."""
    return Role.objects.filter(
        assignments__subject_type=subject_type, assignments__subject_id=subject_id
    )


def roles_of(*, subject_type: str, subject_id: uuid.UUID) -> list[Role]:
    """The roles given to one user or one group, by name."""
    return list(roles_given_to(subject_type=subject_type, subject_id=subject_id).order_by("name"))


def role_scopes_of_group(*, group_id: uuid.UUID) -> frozenset[str]:
    """The scopes of the roles given to one group (one query)."""
    held: set[str] = set()
    for scopes in roles_given_to(subject_type="group", subject_id=group_id).values_list(
        "scopes", flat=True
    ):
        held.update(scopes or ())
    return frozenset(held)
