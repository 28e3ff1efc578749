"""The scope catalogue (docs/credentials.md): the one place scopes are named and expanded."""

from __future__ import annotations

from collections.abc import Iterable

# The names are the contract the clients share (micro_client.contract); their meaning is here.
from micro_client.contract import (
    API_ADMIN,
    OBJECTS_READ,
    OBJECTS_WRITE,
    PROFILE,
    USERS_READ,
    USERS_WRITE,
)

CATALOGUE: dict[str, str] = {
    PROFILE: "Read and update your own account.",
    USERS_READ: "Read the public info of any user.",
    USERS_WRITE: "Create, update and deactivate users; read private fields.",
    OBJECTS_READ: "Read objects through the objects API (object access still checked).",
    OBJECTS_WRITE: "Write objects through the objects API (object access still checked).",
    API_ADMIN: "Manage access grants, groups, users and audit events; implies every scope.",
}
ALL_SCOPES: frozenset[str] = frozenset(CATALOGUE)

# What every active human user holds without any group; service accounts hold only what they
# were granted.
HUMAN_DEFAULT_SCOPES: frozenset[str] = frozenset({PROFILE, USERS_READ, OBJECTS_READ, OBJECTS_WRITE})


class UnknownScope(ValueError):
    """A scope name that is not in the catalogue."""


def parse_scope_string(value: str) -> frozenset[str]:
    """Split an OAuth-style space-separated scope string; every name must be in the catalogue."""
    return validate_scopes(value.split())


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    result = frozenset(scopes)
    unknown = sorted(result - ALL_SCOPES)
    if unknown:
        raise UnknownScope(f"unknown scope(s): {', '.join(unknown)}")
    return result


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a set really grants: `api_admin` implies every other scope."""
    held = frozenset(scopes) & ALL_SCOPES
    return ALL_SCOPES if API_ADMIN in held else held


def to_string(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))
