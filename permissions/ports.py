"""What permissions asks of the rest of the service, through settings instead of imports.

Scopes are held by rows of apps above this one (groups, users, API keys, OAuth clients): the
modules the MICRO_SCOPE_HOLDERS setting names count and remove them, so the registry can
refuse, or force, the deletion of a scope in use.

Grants name users and groups by id only and may live in another database, so this app never
imports the accounts app: which groups a user belongs to comes from the function the
MICRO_GROUP_RESOLVER setting names (a dotted path, as SESSION_ENGINE names a session store).
The project points it at accounts' selector; a permissions service split off on its own
points it at whatever answers the question there.
"""

from __future__ import annotations

import uuid
from importlib import import_module
from typing import Protocol, cast

from django.conf import settings
from django.utils.module_loading import import_string

from micro_platform.identity import Principal


class GroupResolver(Protocol):
    def __call__(self, *, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]: ...


def group_ids_of_user(*, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The ids of the groups `user_id` belongs to now, from the configured resolver."""
    resolver = cast(GroupResolver, import_string(settings.MICRO_GROUP_RESOLVER))
    return resolver(user_id=user_id)


class ScopeHolder(Protocol):
    """A module holding scope names on its rows (MICRO_SCOPE_HOLDERS names such modules)."""

    def scope_uses(self, names: frozenset[str]) -> dict[str, int]:
        """How many rows of each kind (`groups`, `api_keys`...) hold any of `names`."""
        ...

    def scope_remove(self, names: frozenset[str], *, actor: Principal | None) -> None:
        """Takes `names` from every row holding them, in the caller's transaction."""
        ...


def scope_holders() -> list[ScopeHolder]:
    return [cast(ScopeHolder, import_module(path)) for path in settings.MICRO_SCOPE_HOLDERS]
