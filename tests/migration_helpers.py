"""Moving the test database between migrations, for tests of a migration against old data."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader


def migrate_to(targets: Sequence[tuple[str, str | None]] | None) -> Any:
    """Migrates the test database to `targets` (every app's latest when None; `(app, None)`
    unapplies the app and what depends on it); the historical models of what is applied then."""
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets or executor.loader.graph.leaf_nodes()))
    loader = MigrationLoader(connection)
    # A squashed migration (django-otp-webauthn ships one) may leave records of the migrations
    # it replaced, which are not nodes of the graph.
    applied = [key for key in loader.applied_migrations if key in loader.graph.nodes]
    return loader.project_state(applied).apps


def applied_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(connection).applied_migrations)


@contextmanager
def schema_at(targets: Sequence[tuple[str, str | None]]) -> Iterator[Any]:
    """The historical models at `targets`; the latest schema again afterwards, whatever happens."""
    apps = migrate_to(targets)
    try:
        yield apps
    finally:
        migrate_to(None)
