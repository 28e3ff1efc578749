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

# OpenID Connect's own scope, asked for by an OAuth 2.0 client signing someone in: it grants
# nothing in the API, so it is not in the catalogue.
OPENID = "openid"

# Each scope with what it grants (the API's documentation) and how the consent page puts it.
_SCOPES: dict[str, tuple[str, str]] = {
    PROFILE: ("Read and update your own account.", "Read and update your account"),
    USERS_READ: ("Read the public info of any user.", "Read public information about users"),
    USERS_WRITE: (
        "Create, update and deactivate users; read private fields.",
        "Create, update and deactivate users",
    ),
    OBJECTS_READ: (
        "Read objects through the objects API (object access still checked).",
        "Read objects you have access to",
    ),
    OBJECTS_WRITE: (
        "Write objects through the objects API (object access still checked).",
        "Change objects you have access to",
    ),
    API_ADMIN: (
        "Manage access grants, groups, users and audit events; implies every scope.",
        "Administer access grants, groups, users and audit events",
    ),
}
CATALOGUE: dict[str, str] = {name: described for name, (described, _) in _SCOPES.items()}
# What an OAuth 2.0 client may ask for, as its consent page words it (authn.oauth.scopes).
OAUTH_SCOPES: dict[str, str] = {
    OPENID: "Sign you in (OpenID Connect)",
    **{name: consent for name, (_, consent) in _SCOPES.items()},
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
