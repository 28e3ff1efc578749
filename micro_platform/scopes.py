"""This service's own scopes and the rules every scope name follows (docs/permissions.md).

The scopes other services register live in the registry (permissions.catalogue); the ones
named here belong to the built-in service `micro`, which the registry always holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

# The names are the contract the clients share (micro_client.contract); their meaning is here.
from micro_client.contract import (
    API_ADMIN,
    OBJECTS_READ,
    OBJECTS_WRITE,
    PROFILE,
    SCOPES_IMPLIED_BY_API_ADMIN,
    USERS_READ,
    USERS_WRITE,
)

# The service this one is in the registry; its scopes keep the names they had before it.
BUILT_IN_SERVICE = "micro"
BUILT_IN_DESCRIPTION = "This identity service: accounts, groups, grants, objects and audit."

# OpenID Connect's own scopes, asked for by an OAuth 2.0 client signing someone in: `openid`
# for the sign-in, `email` for the address in the ID token and userinfo (`profile`, the API's
# scope for one's own account, releases it too). They grant nothing in the API, so they are
# not in the registry.
OPENID = "openid"
EMAIL = "email"
SIGN_IN_SCOPES: tuple[str, ...] = (OPENID, EMAIL)

# Each built-in scope with what it grants (the API's documentation and the consent page).
BUILT_IN_SCOPES: dict[str, str] = {
    PROFILE: "Read and update your own account.",
    USERS_READ: "Read the public info of any user.",
    USERS_WRITE: "Create, update and deactivate users; read private fields.",
    OBJECTS_READ: "Read objects through the objects API (object access still checked).",
    OBJECTS_WRITE: "Write objects through the objects API (object access still checked).",
    API_ADMIN: "Manage services, scopes, roles, grants, groups, users and audit events; implies"
    " every scope.",
}

# What every active human user holds without any group or role; service accounts hold only
# what they were granted.
HUMAN_DEFAULT_SCOPES: frozenset[str] = frozenset({PROFILE, USERS_READ, OBJECTS_READ, OBJECTS_WRITE})

# A service's name, and a scope it registers: `<service>:<action>`, the service being its owner.
SERVICE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
SCOPE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}:[a-z][a-z0-9_.-]{0,62}$"
SERVICE_NAME = re.compile(SERVICE_NAME_PATTERN.removesuffix("$") + r"\Z")
SCOPE_NAME = re.compile(SCOPE_NAME_PATTERN.removesuffix("$") + r"\Z")


# Any scope name a request may give: a registered scope is `<service>:<action>` or one of the
# built-in names that predate that form. The registry decides which of them exist.
ANY_SCOPE_NAME_PATTERN = (
    "^(?:"
    + "|".join(sorted(name for name in BUILT_IN_SCOPES if not SCOPE_NAME.match(name)))
    + "|"
    + SCOPE_NAME_PATTERN.removeprefix("^").removesuffix("$")
    + ")$"
)
ANY_SCOPE_NAME = re.compile(ANY_SCOPE_NAME_PATTERN.removesuffix("$") + r"\Z")


class UnknownScope(ValueError):
    """A scope name that is not in the registry."""


class ScopesRefused(ValidationError):
    """A service's refusal of scope names nobody holds (not in the registry): the API answers
    it as a 403 `invalid_scope`, as for a scope the caller does not hold."""


def implied(names: Iterable[str]) -> frozenset[str]:
    """The names with what they imply: `api_admin` implies every built-in scope, and never
    another service's (as `micro_client.contract.scope_granted` has it)."""
    held = frozenset(names)
    return held | SCOPES_IMPLIED_BY_API_ADMIN if API_ADMIN in held else held


def to_string(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))
