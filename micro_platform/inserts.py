"""New rows written by one statement, where the database allows it (PostgreSQL).

A hot write of rows that belong together (a stored token and its audit event; a sign-in's
token family, its refresh token and its audit events) otherwise costs a round trip per
INSERT on PostgreSQL, plus BEGIN and COMMIT when nothing else opened a transaction. Data-
modifying WITH clauses make it one statement, which PostgreSQL runs atomically on its own:
every row is stored or none is, with no explicit transaction (and inside one, the statement
is part of it like any other). Each INSERT is compiled by Django from the instances, as
`save(force_insert=True)` compiles it (field defaults and `pre_save`, such as
`auto_now_add`; the keys the database returns are set on the instance), so the rows are the
ones `save` would store. The save signals are not sent: `insertable_together` says whether
that may be done (no receiver listens for them).

`insert_together` writes instances at hand; `NewRows` gathers them while a service builds
them, and falls back to the ORM's saves where they cannot be written together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery


def insertable_together(*models: type[Model], using: str) -> bool:
    """Whether `insert_together` may write rows of `models` on the database `using`: it is
    PostgreSQL, and no receiver listens for the models' save signals, which it does not send."""
    if connections[using].vendor != "postgresql":
        return False
    return not any(
        signal.has_listeners(model) for model in models for signal in (pre_save, post_save)
    )


def insert_together(*instances: Model, using: str) -> None:
    """Inserts the new `instances` with one statement on `using`, in the order given (see the
    module's docstring; check `insertable_together` first). Only the last may need values
    back from the database (an auto key); the others' keys are set in Python (a UUID, say)."""
    if not instances:
        raise ValueError("insert_together needs at least one instance")
    _execute([_Insert.compile([instance], using) for instance in instances], using)


class NewRows:
    """The new rows of one write, stored in the order added: with one statement where
    `insertable_together` allows it for `models` (on the database they are all written to),
    else each by the ORM as it is added, in the caller's transaction.

    `add` and `add_many` compile a row's INSERT (or save it) at once, so the values
    `pre_save` gives it (`auto_now_add` ...) are set on the instance when it is added,
    whichever way it is written, and are the values stored. Used as a context manager, the
    rows are written when the block ends without an exception (else the ones not yet written
    are dropped); `write` does it by hand. Until then, on PostgreSQL, nothing added is in the
    database: read none of it back in between. Rows' keys must be set in Python (a UUID, say).
    """

    def __init__(self, *models: type[Model]) -> None:
        self.using = router.db_for_write(models[0])
        self.models = frozenset(models)
        self.together = all(
            router.db_for_write(model) == self.using for model in models
        ) and insertable_together(*models, using=self.using)
        self._pending: list[_Insert] = []

    def add(self, instance: Model) -> None:
        """Adds a new row; saved at once (`save(force_insert=True)`) where rows are not
        written together."""
        self._check((instance,))
        if self.together:
            self._pending.append(_Insert.compile([instance], self.using))
        else:
            instance.save(force_insert=True)

    def add_many(self, instances: Sequence[Model]) -> None:
        """Adds new rows of one model, in one INSERT as `bulk_create` writes them (which
        sends no save signals either); `bulk_create` at once where rows are not written
        together."""
        if not instances:
            return
        self._check(instances)
        if self.together:
            self._pending.append(_Insert.compile(instances, self.using))
        else:
            type(instances[0])._default_manager.bulk_create(instances)

    def write(self) -> None:
        """Stores the rows added since the last `write`, with one statement (where each row
        was saved as it was added, none is left)."""
        pending, self._pending = self._pending, []
        if pending:
            _execute(pending, self.using)

    def __enter__(self) -> NewRows:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.write()
        else:
            self._pending = []

    def _check(self, instances: Sequence[Model]) -> None:
        model = type(instances[0])
        if model not in self.models:
            raise ValueError(f"{model.__name__} is not one of the models these rows were made for")
        if any(type(instance) is not model for instance in instances):
            raise ValueError("rows added together in one INSERT must be of one model")
        if model._meta.db_returning_fields:
            raise ValueError(f"{model.__name__} needs values back from the database")


@dataclass(frozen=True)
class _Insert:
    """One compiled INSERT of `instances` (one model), with the compiler that reads back
    what it returns."""

    sql: str
    params: list[Any]
    compiler: Any
    instances: Sequence[Model]

    @classmethod
    def compile(cls, instances: Sequence[Model], using: str) -> _Insert:
        """The INSERT `save(force_insert=True)` (or, for several rows, `bulk_create`) would run
        for `instances`, with its RETURNING; their `pre_save` values are set on them now."""
        model = type(instances[0])
        meta = model._meta
        pk = meta.pk
        assert pk is not None  # noqa: S101 - every concrete model has one
        for instance in instances:
            instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
            if getattr(instance, pk.attname) is None:  # as Model.save: the key's default, if any
                setattr(instance, pk.attname, pk.get_pk_value_on_save(instance))  # type: ignore[attr-defined]
        keyed = {getattr(instance, pk.attname) is not None for instance in instances}
        if len(keyed) != 1:
            raise ValueError(f"some {model.__name__} rows have a key and some have none")
        pk_set = keyed.pop()
        fields = [
            field
            for field in meta.local_concrete_fields
            if not field.generated and (pk_set or field is not meta.auto_field)
        ]
        query = InsertQuery(model)
        query.insert_values(fields, list(instances))
        compiler = query.get_compiler(using=using)
        compiler.returning_fields = list(meta.db_returning_fields) or None
        ((sql, params),) = compiler.as_sql()
        return cls(sql, list(params), compiler, instances)


def _execute(inserts: Sequence[_Insert], using: str) -> None:
    """Runs `inserts` as one statement: all but the last in WITH clauses, the last as the
    statement's own INSERT, whose RETURNING is read back onto its instances."""
    *leading, last = inserts
    for insert in leading:
        if insert.compiler.returning_fields:
            name = type(insert.instances[0]).__name__
            raise ValueError(f"{name} needs values back: insert it last")
    clauses = ", ".join(f"row_{index} AS ({insert.sql})" for index, insert in enumerate(leading))
    sql = f"WITH {clauses} {last.sql}" if leading else last.sql
    params = [param for insert in inserts for param in insert.params]
    # As the ORM's saves: a failed statement dooms the enclosing atomic block.
    with transaction.mark_for_rollback_on_error(using), connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall() if last.compiler.returning_fields else []
    for insert in inserts:
        for instance in insert.instances:
            instance._state.adding = False
            instance._state.db = using
    if returned:
        _set_returned(last, returned)


def _set_returned(insert: _Insert, returned: list[tuple[Any, ...]]) -> None:
    compiler = insert.compiler
    fields = compiler.returning_fields
    table = insert.instances[0]._meta.db_table
    converters = compiler.get_converters([field.get_col(table) for field in fields])
    rows = compiler.apply_converters(returned, converters) if converters else returned
    for instance, row in zip(insert.instances, rows, strict=True):
        for value, field in zip(row, fields, strict=True):
            setattr(instance, field.attname, value)
