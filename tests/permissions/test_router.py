"""The database router: `objects` and `permissions` alone in the `objects` alias."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from accounts.models import User
from audit.models import AuditEvent
from micro_platform.db_routers import OBJECTS_ALIAS, ObjectsRouter
from objects.models import Object
from permissions.models import Grant
from permissions.services import grants_db

ROUTER = ObjectsRouter()


def test_routed_models_read_and_write_the_objects_alias() -> None:
    for routed in (Grant, Object):
        assert ROUTER.db_for_read(routed) == ROUTER.db_for_write(routed) == OBJECTS_ALIAS
    for other in (User, AuditEvent):
        assert ROUTER.db_for_read(other) is None
        assert ROUTER.db_for_write(other) is None


def test_migrations_go_only_where_they_belong() -> None:
    assert ROUTER.allow_migrate(OBJECTS_ALIAS, "permissions") is True
    assert ROUTER.allow_migrate(OBJECTS_ALIAS, "objects") is True
    assert ROUTER.allow_migrate(DEFAULT_DB_ALIAS, "objects") is False
    assert ROUTER.allow_migrate(OBJECTS_ALIAS, "accounts") is False
    assert ROUTER.allow_migrate(DEFAULT_DB_ALIAS, "accounts") is None


def test_no_relation_across_the_two_databases() -> None:
    assert ROUTER.allow_relation(Grant(), User()) is False
    assert ROUTER.allow_relation(Grant(), Object()) is None
    assert ROUTER.allow_relation(User(), AuditEvent()) is None


@pytest.mark.django_db(databases="__all__")
def test_tables_exist_only_in_the_database_in_use() -> None:
    split = OBJECTS_ALIAS in connections.databases
    assert grants_db() == (OBJECTS_ALIAS if split else DEFAULT_DB_ALIAS)
    with connections[grants_db()].cursor() as cursor:
        tables = set(connections[grants_db()].introspection.table_names(cursor))
    assert {"permissions_grant", "objects_object"} <= tables
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        default_tables = set(connections[DEFAULT_DB_ALIAS].introspection.table_names(cursor))
    assert ("permissions_grant" in default_tables) is not split
    assert "authn_auditevent" in default_tables


def test_objects_database_url_enables_the_second_alias() -> None:
    import os

    named = bool(os.environ.get("OBJECTS_DATABASE_URL"))
    assert (OBJECTS_ALIAS in connections.databases) is named
