"""Two new rows written by one statement, where the database allows it (PostgreSQL).

A hot write of two rows that belong together (a stored token and its audit event) otherwise
costs four round trips on PostgreSQL: BEGIN, two INSERTs and COMMIT. A data-modifying WITH
clause makes it one statement, which PostgreSQL runs atomically on its own: both rows are
stored or neither is, with no explicit transaction. Each INSERT is compiled by Django from
the instance, as `save(force_insert=True)` compiles it (field defaults and `pre_save`, such
as `auto_now_add`; the keys the database returns are set on the instance), so the rows are
the ones `save` would store. The save signals are not sent: `insertable_together` says
whether that may be done (no receiver listens for them).
"""

from __future__ import annotations

from typing import Any

from django.db import connections
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


def insert_together(first: Model, second: Model, *, using: str) -> None:
    """Inserts the new instances `first` and `second` with one statement on `using` (see the
    module's docstring; check `insertable_together` first). `first` must need nothing back
    from the database (its key is set in Python, a UUID say); `second` may (an auto key)."""
    if first._meta.db_returning_fields:
        raise ValueError(f"{type(first).__name__} needs values back: insert it second")
    first_sql, first_params, _ = _insert_statement(first, using)
    second_sql, second_params, compiler = _insert_statement(second, using)
    with connections[using].cursor() as cursor:
        sql = f"WITH first_row AS ({first_sql}) {second_sql}"
        cursor.execute(sql, [*first_params, *second_params])
        returned = cursor.fetchone() if compiler.returning_fields else None
    for instance in (first, second):
        instance._state.adding = False
        instance._state.db = using
    if returned is not None:
        fields = compiler.returning_fields
        columns = [field.get_col(second._meta.db_table) for field in fields]
        converters = compiler.get_converters(columns)
        row = (
            next(iter(compiler.apply_converters([returned], converters)))
            if converters
            else returned
        )
        for value, field in zip(row, fields, strict=True):
            setattr(second, field.attname, value)


def _insert_statement(instance: Model, using: str) -> tuple[str, list[Any], Any]:
    """The INSERT `save(force_insert=True)` would run for `instance`, with its RETURNING."""
    meta = instance._meta
    instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    pk = meta.pk
    assert pk is not None  # noqa: S101 - every concrete model has one
    if getattr(instance, pk.attname) is None:  # as Model.save: the key's default, if any
        setattr(instance, pk.attname, pk.get_pk_value_on_save(instance))  # type: ignore[attr-defined]
    pk_set = getattr(instance, pk.attname) is not None
    fields = [
        field
        for field in meta.local_concrete_fields
        if not field.generated and (pk_set or field is not meta.auto_field)
    ]
    query = InsertQuery(type(instance))
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = list(meta.db_returning_fields) or None
    ((sql, params),) = compiler.as_sql()
    return sql, list(params), compiler
