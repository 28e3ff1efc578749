"""Statements compiled once per database: reads of one row by primary key (`RowByPk`), of
the rows of several keys (`RowsByPks`, once per number of keys), of the model instances of a
queryset that one value selects (`InstancesByValue`, with its related rows and annotations)
or of the rows of a queryset and its parameters (`RowsByParams`), and an update of the rows
a queryset selects (`UpdateByParams`).

Building and compiling a queryset costs more than the indexed read itself on the hot user
read (P3); the statement Django compiles for `Model.objects.filter(pk=…)` is the same every
time, so it is compiled once, then run with the new key and turned into a model instance by
the same converters and `Model.from_db` the ORM uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from django.core.signals import setting_changed
from django.db import connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined] # not in the stubs
from django.db.models.sql import UpdateQuery

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
    params: tuple[Any, ...]  # as compiled, `value` at `position`
    position: int
    columns: int
    converters: dict[int, tuple[list[Callable[..., Any]], Any]]
    apply: Callable[..., Any]
    build: Callable[[Any], Any]


class InstancesByValue(Generic[M]):
    """`list(build(value))`, for a queryset whose only parameter is `value` (the model
    instances, with the rows of its `select_related` and its annotations), compiled once per
    database alias and turned into instances the way the ORM's own iteration does. `value`
    must be one the database takes as it is (a string, say), which is checked when the
    statement is compiled.

    With `constants`, the statement may also take parameters that are constants of the
    queryset (an `Exists`' selected `1`, a literal compared with): they are kept as compiled
    and each read puts its `value` in the one place the compiled value took. The compiled
    parameters must hold `value` exactly once, and `probe`, a second value that builds the
    same statement (with characters a lookup would escape or fold: `%`, `_`, `\\`, capitals),
    is compiled too: it must change that one parameter, to itself, and nothing else. So a
    `build` that derives a parameter from `value` (an escaped pattern, say) is refused even
    when the first value read happens to come out unchanged."""

    def __init__(
        self,
        model: type[M],
        build: Callable[[Any], QuerySet[M]],
        *,
        constants: bool = False,
        probe: Any = None,
    ) -> None:
        if constants and probe is None:
            raise TypeError("InstancesByValue(constants=True) needs a probe value")
        self.model = model
        self.build = build
        self.constants = constants
        self.probe = probe
        self._statements: dict[str, _InstancesStatement] = {}
        setting_changed.connect(self._forget, weak=False)

    def get(self, value: Any) -> list[M]:
        using = router.db_for_read(self.model)
        statement = self._statements.get(using) or self._compile(using, value)
        params = list(statement.params)
        params[statement.position] = value
        with connections[using].cursor() as cursor:
            cursor.execute(statement.sql, params)
            rows: Iterable[Any] = cursor.fetchall()
        if statement.converters:
            rows = statement.apply(rows, statement.converters)
        return [statement.build(row[: statement.columns]) for row in rows]

    def _compile(self, using: str, value: Any) -> _InstancesStatement:
        compiler = self.build(value).using(using).query.get_compiler(using)
        sql, params = compiler.as_sql()
        positions = [index for index, param in enumerate(params) if param == value]
        expected = len(positions) == 1 and (self.constants or len(params) == 1)
        if expected and self.probe is not None and self.probe != value:
            probe_compiler = self.build(self.probe).using(using).query.get_compiler(using)
            probed_sql, probed = probe_compiler.as_sql()
            expected = probed_sql == sql and len(probed) == len(params)
            if expected:
                pairs = zip(params, probed, strict=True)
                changed = [index for index, (was, now) in enumerate(pairs) if was != now]
                expected = changed == positions and probed[positions[0]] == self.probe
        if not expected or compiler.klass_info is None:
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
            sql,
            tuple(params),
            positions[0],
            len(columns),
            converters,
            compiler.apply_converters,
            build,
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


class UpdateByParams(Generic[M]):
    """`build(*args).update(**values(*args))`, one statement compiled once per database alias
    and run with `params(connection, *args)`: exactly the parameters, in order, that the
    compiled statement takes (the values set, prepared as the ORM saves them, then those of
    the filter), which is checked when it is compiled. Answers the number of rows updated,
    as `update` does; an update that would need more than one statement is refused."""

    def __init__(
        self,
        model: type[M],
        *,
        build: Callable[..., QuerySet[M]],
        values: Callable[..., dict[str, Any]],
        params: Callable[..., list[Any]],
    ) -> None:
        self.model = model
        self.build, self.values, self.params = build, values, params
        self._statements: dict[str, str] = {}
        setting_changed.connect(self._forget, weak=False)

    def run(self, *args: Any) -> int:
        using = router.db_for_write(self.model)
        connection = connections[using]
        params = self.params(connection, *args)
        sql = self._statements.get(using) or self._compile(using, args, params)
        # As `QuerySet.update`: a failed statement dooms the enclosing atomic block.
        with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)

    def _compile(self, using: str, args: tuple[Any, ...], params: list[Any]) -> str:
        # What `QuerySet.update` compiles (its ordering and selection play no part in it).
        query = cast(UpdateQuery, self.build(*args).using(using).query.chain(UpdateQuery))
        query.add_update_values(self.values(*args))
        query.clear_select_clause()
        compiler = query.get_compiler(using)
        sql, compiled_params = compiler.as_sql()
        if query.related_updates or not sql or list(compiled_params) != params:
            raise RuntimeError(f"unexpected update of {self.model.__name__}: {sql}")
        self._statements[using] = sql
        return sql

    def _forget(self, **kwargs: Any) -> None:
        self._statements.clear()
