"""What permissions asks of the rest of the service, through settings instead of imports.

Grants name users and groups by id only and may live in another database, so this app never
imports the accounts app: which groups a user belongs to comes from the function the
MICRO_GROUP_RESOLVER setting names (a dotted path, as SESSION_ENGINE names a session store).
The project points it at accounts' selector; a permissions service split off on its own
points it at whatever answers the question there.
"""

from __future__ import annotations

import uuid
from typing import Protocol, cast

from django.conf import settings
from django.utils.module_loading import import_string


class GroupResolver(Protocol):
    def __call__(self, *, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]: ...


def group_ids_of_user(*, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The ids of the groups `user_id` belongs to now, from the configured resolver."""
    resolver = cast(GroupResolver, import_string(settings.MICRO_GROUP_RESOLVER))
    return resolver(user_id=user_id)
