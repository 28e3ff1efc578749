"""The scopes groups and users hold by name, for the registry (permissions.ports: a scope in
use is not deleted unless forced, which takes it from them)."""

from __future__ import annotations

from accounts.models import Group, User
from micro_platform.identity import Principal

# Scope lists are JSON, filtered here rather than in SQL (SQLite cannot); only the rows that
# hold any scope at all are read: groups, and the accounts granted scopes directly.


def _groups_holding(names: frozenset[str]) -> list[Group]:
    return [group for group in Group.objects.exclude(scopes=[]) if names & set(group.scopes)]


def _users_holding(names: frozenset[str]) -> list[User]:
    return [user for user in User.objects.exclude(scopes=[]) if names & set(user.scopes)]


def scope_uses(names: frozenset[str]) -> dict[str, int]:
    return {"groups": len(_groups_holding(names)), "users": len(_users_holding(names))}


def scope_remove(names: frozenset[str], *, actor: Principal | None) -> None:
    # Saved one by one: the model signals re-read the cached API keys of whoever is affected.
    for group in _groups_holding(names):
        group.scopes = sorted(set(group.scopes) - names)
        group.save(update_fields=["scopes"])
    for user in _users_holding(names):
        user.scopes = sorted(set(user.scopes) - names)
        user.save(update_fields=["scopes"])
