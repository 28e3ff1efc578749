"""Reads of users and groups that matter for authorization; every list filtered in the query."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Literal

from django.db.models import Q, QuerySet

from accounts.models import EMAIL_MAX_LENGTH, Group, Membership, User, iequals
from micro_platform import scopes as scope_catalogue
from micro_platform.compiled import RowByPk, RowsByPks
from micro_platform.ids import parse_uuid
from permissions import catalogue as registry
from permissions.role_selectors import role_scopes_of, role_scopes_of_group

# The hot user read (P3): compiled once, not per request.
_user_by_pk = RowByPk(User, sample_pk=uuid.UUID(int=0))
PUBLIC_FIELDS = ("id", "username", "display_name", "avatar_url", "kind", "created_at")
# The batch lookup (P4): compiled once per number of ids.
_users_public_by_pks = RowsByPks(User, fields=PUBLIC_FIELDS, ordering=("created_at", "id"))


def user_get(*, user_id: object) -> User | None:
    parsed = parse_uuid(user_id)
    if parsed is None:
        return None
    return _user_by_pk.get(parsed)


def user_get_by_username(*, username: str) -> User | None:
    return _users_by_username(username).first()


def _users_by_username(username: str, users: QuerySet[User] | None = None) -> QuerySet[User]:
    users = User.objects.all() if users is None else users
    if "\x00" in username:  # no username holds NUL, and PostgreSQL rejects it in a query
        return users.none()
    return users.filter(iequals("username", username))


def user_get_by_email(*, email: str) -> User | None:
    return _users_by_email(email).first()


def _users_by_email(email: str, users: QuerySet[User] | None = None) -> QuerySet[User]:
    users = User.objects.all() if users is None else users
    if not email or "\x00" in email:
        return users.none()
    return users.exclude(email="").filter(iequals("email", email))


def user_get_by_login(*, login: str) -> User | None:
    """The user a sign-in name designates: an email when it holds "@", else a username."""
    return users_by_login(login=login).first()


def users_by_login(*, login: str, users: QuerySet[User] | None = None) -> QuerySet[User]:
    """`user_get_by_login`'s query, for a caller that reads more with the user (its first
    row by primary key is the user): `users` (default: every user) narrowed to that login."""
    users = User.objects.all() if users is None else users
    kind = login_kind(login)
    if kind is None:
        return users.none()
    if kind == "email":
        return _users_by_email(login, users)
    return _users_by_username(login, users)


def login_kind(login: str) -> Literal["username", "email"] | None:
    """How `users_by_login` looks `login` up: by email when it holds "@", else by username;
    None when no account can match it (longer than any email address, or holding NUL)."""
    if len(login) > EMAIL_MAX_LENGTH or "\x00" in login:
        return None
    return "email" if "@" in login else "username"


def users_public_by_ids(*, ids: Iterable[object]) -> list[dict[str, Any]]:
    """Public fields of the users among `ids`, in one query, without building model objects."""
    parsed = {p for p in (parse_uuid(value) for value in ids) if p is not None}
    if not parsed:
        return []
    return _users_public_by_pks.get(parsed)


def users_all() -> QuerySet[User]:
    return User.objects.all().order_by("created_at", "id")


def user_memberships(*, user: User) -> list[tuple[uuid.UUID, list[str]]]:
    """(group id, group scopes) for each group the user belongs to, in one query."""
    return [
        (group_id, list(group_scopes or []))
        for group_id, group_scopes in Membership.objects.filter(user=user).values_list(
            "group_id", "group__scopes"
        )
    ]


def group_ids_of(memberships: list[tuple[uuid.UUID, list[str]]]) -> tuple[uuid.UUID, ...]:
    """The sorted group ids of `user_memberships`' answer: what a principal's `group_ids` holds."""
    return tuple(sorted(group_id for group_id, _ in memberships))


def memberships_of_user(*, user: User) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user).select_related("group").order_by("group__name")
    )


def user_held_scopes(
    *, user: User, memberships: list[tuple[uuid.UUID, list[str]]] | None = None
) -> frozenset[str]:
    """What the user may put in a token or API key now, `api_admin` expanded."""
    if not user.is_active:
        return frozenset()
    held: set[str] = set(user.granted_scopes)
    if user.kind == User.Kind.USER:
        held |= scope_catalogue.HUMAN_DEFAULT_SCOPES
    if user.is_superuser:
        held |= scope_catalogue.BUILT_IN_SCOPES.keys()
    if memberships is None:
        memberships = user_memberships(user=user)
    for _, group_scopes in memberships:
        held |= set(group_scopes)
    held |= role_scopes_of(user_id=user.pk, group_ids=group_ids_of(memberships))
    return registry.expand(held)


def user_is_administrator(*, user: User) -> bool:
    """Whether the account carries `api_admin` by role, active or not (a deactivated admin
    is still an admin account: reactivating it must stay an `api_admin` decision)."""
    if user.is_superuser or scope_catalogue.API_ADMIN in user.granted_scopes:
        return True
    memberships = user_memberships(user=user)
    if any(scope_catalogue.API_ADMIN in scopes for _, scopes in memberships):
        return True
    by_role = role_scopes_of(user_id=user.pk, group_ids=group_ids_of(memberships))
    return scope_catalogue.API_ADMIN in by_role


def groups_all() -> QuerySet[Group]:
    return Group.objects.all().order_by("name")


def groups_of_user(*, user_id: uuid.UUID) -> QuerySet[Group]:
    return Group.objects.filter(memberships__user_id=user_id).order_by("name")


def group_ids_of_user(*, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The groups a user belongs to now (one query): permissions' group resolver (the
    MICRO_GROUP_RESOLVER setting names it), for checks about another user."""
    return tuple(
        sorted(Membership.objects.filter(user_id=user_id).values_list("group_id", flat=True))
    )


def group_get(*, group_id: object) -> Group | None:
    parsed = parse_uuid(group_id)
    if parsed is None:
        return None
    return Group.objects.filter(pk=parsed).first()


def group_grants_api_admin(*, group: Group) -> bool:
    """Whether membership of the group carries `api_admin`: by its own scopes or by a role
    given to it."""
    if scope_catalogue.API_ADMIN in group.scopes:
        return True
    return scope_catalogue.API_ADMIN in role_scopes_of_group(group_id=group.pk)


def group_is_admin(*, group: Group, user_id: uuid.UUID) -> bool:
    return Membership.objects.filter(
        group=group, user_id=user_id, role=Membership.Role.ADMIN
    ).exists()


def group_memberships(*, group: Group) -> QuerySet[Membership]:
    """The group's memberships with their users, by username."""
    return Membership.objects.filter(group=group).select_related("user").order_by("user__username")


def users_search(*, query: str = "", kind: str | None = None) -> QuerySet[User]:
    """Users whose username, email or display name contains `query` (any case), optionally of
    one kind, by username."""
    users = User.objects.all()
    if kind is not None:
        users = users.filter(kind=kind)
    query = query.strip().replace("\x00", "")
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(display_name__icontains=query)
        )
    return users.order_by("username", "id")
