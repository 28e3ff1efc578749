"""Reads whose SQL is compiled once per database: one row by primary key (`RowByPk`), the
rows of several keys (`RowsByPks`, once per number of keys), or the model instances of a
queryset that one value selects (`InstancesByValue`, with its related rows and annotations).

Building and compiling a queryset costs more than the indexed read itself on the hot user
read (P3); the statement Django compiles for `Model.objects.filter(pk=…)` is the same every
time, so it is compiled once, then run with the new key and turned into a model instance by
the same converters and `Model.from_db` the ORM uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.signals import setting_changed
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined] # not in the stubs

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


class RowsByPks(Generic[M]):
    """`model.objects.filter(pk__in=pks).order_by(*ordering).values(*fields)`, compiled once
    per database alias and number of keys (the statement differs only by its number of
    placeholders), run with the new keys and converted by the ORM's own converters. Only
    statements of at most `max_keys` keys are kept, so at most `max_keys` per database; a
    longer list is compiled for its one read."""

    def __init__(
        self,
        model: type[M],
        *,
        fields: tuple[str, ...],
        ordering: tuple[str, ...],
        max_keys: int = 100,
    ) -> None:
        self.model = model
        self.fields = fields
        self.ordering = ordering
        self.max_keys = max_keys
        self._statements: dict[tuple[str, int], _Statement] = {}
        setting_changed.connect(self._forget, weak=False)

    def get(self, pks: Iterable[Any]) -> list[dict[str, Any]]:
        """The rows of the keys `pks` (each once), as dicts of `fields`, in `ordering`."""
        pks = list(dict.fromkeys(pks))  # the ORM asks for each key once: so does the statement
        if not pks:
            return []
        using = router.db_for_read(self.model)
        connection = connections[using]
        pk_field = self.model._meta.pk
        params = [pk_field.get_db_prep_value(pk, connection) for pk in pks]
        statement = self._statements.get((using, len(params))) or self._compile(using, pks, params)
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            rows: Iterable[Any] = cursor.fetchall()
        if statement.converters:
            rows = statement.apply(rows, statement.converters)
        names = self.fields
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _compile(self, using: str, pks: list[Any], params: list[Any]) -> _Statement:
        # Compiled from the first keys of this count: they only fill the placeholders, and
        # the check below makes sure they are the statement's only parameters.
        compiler = (
            self.model._default_manager.using(using)
            .filter(pk__in=pks)
            .order_by(*self.ordering)
            .values(*self.fields)
            .query.get_compiler(using)
        )
        sql, compiled_params = compiler.as_sql()
        columns = [column for column, _, _ in compiler.select]
        attnames = [column.target.attname for column in columns]
        if (
            len(compiled_params) != len(params)
            or set(compiled_params) != set(params)
            or attnames != list(self.fields)
        ):
            raise RuntimeError(f"unexpected statement for {self.model.__name__}: {sql}")
        converters = compiler.get_converters(columns)
        statement = _Statement(sql, attnames, converters, compiler.apply_converters)
        if len(params) <= self.max_keys:
            self._statements[(using, len(params))] = statement
        return statement

    def _forget(self, **kwargs: Any) -> None:
        self._statements.clear()


@dataclass(frozen=True, slots=True)
class _InstancesStatement:
    sql: str
    columns: int
    converters: dict[int, tuple[list[Callable[..., Any]], Any]]
    apply: Callable[..., Any]
    build: Callable[[Any], Any]


class InstancesByValue(Generic[M]):
    """`list(build(value))`, for a queryset whose only parameter is `value` (the model
    instances, with the rows of its `select_related` and its annotations), compiled once per
    database alias and turned into instances the way the ORM's own iteration does. `value`
    must be one the database takes as it is (a string, say), which is checked when the
    statement is compiled."""

    def __init__(self, model: type[M], build: Callable[[Any], QuerySet[M]]) -> None:
        self.model = model
        self.build = build
        self._statements: dict[str, _InstancesStatement] = {}
        setting_changed.connect(self._forget, weak=False)

    def get(self, value: Any) -> list[M]:
        using = router.db_for_read(self.model)
        statement = self._statements.get(using) or self._compile(using, value)
        with connections[using].cursor() as cursor:
            cursor.execute(statement.sql, [value])
            rows: Iterable[Any] = cursor.fetchall()
        if statement.converters:
            rows = statement.apply(rows, statement.converters)
        return [statement.build(row[: statement.columns]) for row in rows]

    def _compile(self, using: str, value: Any) -> _InstancesStatement:
        compiler = self.build(value).using(using).query.get_compiler(using)
        sql, params = compiler.as_sql()
        if list(params) != [value] or compiler.klass_info is None:
            raise RuntimeError(f"unexpected statement for {self.model.__name__}: {sql}")
        select, klass_info = compiler.select, compiler.klass_info
        annotations = dict(compiler.annotation_col_map or {})
        model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        attnames = [column.target.attname for column, _, _ in select[start:end]]
        populators = get_related_populators(klass_info, select, using)

        def build(row: Any) -> Any:
            # What the ORM's ModelIterable does with each row.
            instance = model.from_db(using, attnames, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            for name, position in annotations.items():
                setattr(instance, name, row[position])
            return instance

        columns = [column for column, _, _ in select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        statement = _InstancesStatement(
            sql, len(columns), converters, compiler.apply_converters, build
        )
        self._statements[using] = statement
        return statement

    def _forget(self, **kwargs: Any) -> None:
        self._statements.clear()


class RowsByParams(Generic[M]):
    """The rows of `build(*args)` (a `values_list` queryset, as tuples), compiled once per
    database alias and `shape(*args)` (what decides the statement's text, such as a number
    of ids) and run with `params(connection, *args)`: exactly the parameters, in order, that
    the compiled statement takes, which is checked when it is compiled. At most `max_shapes`
    statements are kept; another shape is compiled for its one read."""

    def __init__(
        self,
        model: type[M],
        *,
        build: Callable[..., QuerySet[M, Any]],
        shape: Callable[..., Any],
        params: Callable[..., list[Any]],
        max_shapes: int = 100,
    ) -> None:
        self.model = model
        self.build, self.shape, self.params = build, shape, params
        self.max_shapes = max_shapes
        self._statements: dict[tuple[str, Any], _Statement] = {}
        setting_changed.connect(self._forget, weak=False)

    def get(self, *args: Any) -> list[tuple[Any, ...]]:
        using = router.db_for_read(self.model)
        connection = connections[using]
        params = self.params(connection, *args)
        key = (using, self.shape(*args))
        statement = self._statements.get(key) or self._compile(key, args, params)
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            rows: Iterable[Any] = cursor.fetchall()
        if statement.converters:
            rows = statement.apply(rows, statement.converters)
        return [tuple(row) for row in rows]

    def _compile(
        self, key: tuple[str, Any], args: tuple[Any, ...], params: list[Any]
    ) -> _Statement:
        using = key[0]
        compiler = self.build(*args).using(using).query.get_compiler(using)
        sql, compiled_params = compiler.as_sql()
        if list(compiled_params) != params:
            raise RuntimeError(f"unexpected parameters for {self.model.__name__}: {sql}")
        columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        statement = _Statement(sql, [], converters, compiler.apply_converters)
        if len(self._statements) < self.max_shapes:
            self._statements[key] = statement
        return statement

    def _forget(self, **kwargs: Any) -> None:
        self._statements.clear()
