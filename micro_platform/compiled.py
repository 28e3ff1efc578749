"""A read of one row by primary key whose SQL is compiled once per database.

Building and compiling a queryset costs more than the indexed read itself on the hot user
read (P3); the statement Django compiles for `Model.objects.filter(pk=…)` is the same every
time, so it is compiled once, then run with the new key and turned into a model instance by
the same converters and `Model.from_db` the ORM uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.signals import setting_changed
from django.db import connections, router
from django.db.models import Model

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    attnames: list[str]
    converters: dict[int, tuple[list[Callable[..., Any]], Any]]
    apply: Callable[..., Any]


class RowByPk(Generic[M]):
    """`model.objects.filter(pk=pk).first()`, compiled once per database alias."""

    def __init__(self, model: type[M], sample_pk: Any) -> None:
        self.model = model
        self._sample_pk = sample_pk  # any valid key: it only shapes the compiled statement
        self._statements: dict[str, _Statement] = {}
        setting_changed.connect(self._forget, weak=False)

    def get(self, pk: Any) -> M | None:
        using = router.db_for_read(self.model)
        statement = self._statements.get(using) or self._compile(using)
        connection = connections[using]
        parameter = self.model._meta.pk.get_db_prep_value(pk, connection)
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, [parameter])
            row = cursor.fetchone()
        if row is None:
            return None
        if statement.converters:
            row = next(iter(statement.apply([row], statement.converters)))
        return self.model.from_db(using, statement.attnames, row)

    def _compile(self, using: str) -> _Statement:
        compiler = (
            self.model._default_manager.using(using)
            .filter(pk=self._sample_pk)
            .query.get_compiler(using)
        )
        sql, params = compiler.as_sql()
        columns = [column for column, _, _ in compiler.select]
        attnames = [column.target.attname for column in columns]
        concrete = [field.attname for field in self.model._meta.concrete_fields]
        if len(params) != 1 or attnames != concrete:
            raise RuntimeError(f"unexpected statement for {self.model.__name__}: {sql}")
        converters = compiler.get_converters(columns)
        statement = _Statement(sql, attnames, converters, compiler.apply_converters)
        self._statements[using] = statement
        return statement

    def _forget(self, **kwargs: Any) -> None:
        self._statements.clear()
