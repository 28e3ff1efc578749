"""Puts the `objects` and `permissions` apps in their own database (`OBJECTS_DATABASE_URL`)."""

from __future__ import annotations

from typing import Any

OBJECTS_ALIAS = "objects"
ROUTED_APPS = frozenset({"objects", "permissions"})


class ObjectsRouter:
    """Reads, writes and migrations of the routed apps go to the `objects` alias, nothing else.

    Installed only when `OBJECTS_DATABASE_URL` is set; without it every app shares `default`.
    """

    def _alias_for(self, model: type[Any]) -> str | None:
        return OBJECTS_ALIAS if model._meta.app_label in ROUTED_APPS else None

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return self._alias_for(model)

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return self._alias_for(model)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # A relation across the two databases cannot be enforced by either of them.
        routed = {obj._meta.app_label in ROUTED_APPS for obj in (obj1, obj2)}
        return None if len(routed) == 1 else False

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        if app_label in ROUTED_APPS:
            return db == OBJECTS_ALIAS
        return False if db == OBJECTS_ALIAS else None
