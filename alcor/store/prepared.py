"""Hot statements run straight on the driver's connection (sqlite3, psycopg).

Why: executing a cached Core statement through SQLAlchemy costs about 20 µs of Python on
this machine, the sqlite3 call itself about 3 µs (measured with a primary-key select; on
PostgreSQL 242 µs against 147 µs for psycopg alone, round trip included), and a port create
runs a dozen such statements, so SQLAlchemy's per-statement machinery was a fifth of a
create's CPU on SQLite. A statement marked `hot` is compiled once per dialect (SQL text,
parameter names or order, the column types' bind and result processors, exactly what
SQLAlchemy would apply), and `UnitOfWork.execute` runs it on the raw connection inside the
same transaction. Anything the fast path does not cover exactly (expanding IN lists, a
parameter set lacking a bind, executemany with RETURNING) takes SQLAlchemy's path, so
results never differ, only their cost. Errors are re-raised as SQLAlchemy's exception types
(`DBAPIError.instance`), so retries on deadlocks and the API's error handlers see what they
always saw.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

S = TypeVar("S")

_HOT: dict[int, Any] = {}  # id(statement) -> statement (kept alive: ids stay unique)
_COMPILED: dict[tuple[int, str], Prepared | None] = {}


def hot(stmt: S) -> S:
    """Mark a long-lived statement for the fast path; returns it unchanged."""
    _HOT[id(stmt)] = stmt
    return stmt


def lookup(stmt: Any, dialect: sa.Dialect) -> Prepared | None:
    """The compiled form of a hot statement for `dialect` (None: not hot, or not coverable)."""
    if id(stmt) not in _HOT:
        return None
    key = (id(stmt), dialect.name)
    if key not in _COMPILED:
        _COMPILED[key] = Prepared.build(stmt, dialect)
    return _COMPILED[key]


class Prepared:
    """SQL text and processors of one statement compiled for one dialect."""

    def __init__(
        self,
        sql: str,
        names: list[str],
        positional: bool,
        fixed: dict[str, Any],
        bind_procs: list[Callable[[Any], Any] | None],
        keys: list[str],
        result_types: list[Any],
        dialect: sa.Dialect,
    ) -> None:
        self.sql = sql
        self.names = names
        self.positional = positional  # qmark (sqlite3): a list; pyformat (psycopg): a dict
        self.fixed = fixed  # binds with a value of their own (literals, LIMIT 1)
        self.procs = [(i, p) for i, p in enumerate(bind_procs) if p is not None]
        self.keys = keys
        self.result_types = result_types
        # result processors depend on the column type codes the driver reports (psycopg:
        # float8 needs none, numeric does): made at the first execution, as SQLAlchemy does
        self.result_procs: list[Callable[[Any], Any] | None] | None = None
        self.dialect = dialect
        self.returns_rows = bool(keys)
        self.error: type[Exception] = dialect.loaded_dbapi.Error  # the driver's base exception
        self.row: Any = collections.namedtuple("Row", keys, rename=True) if keys else None  # type: ignore[misc]

    @classmethod
    def build(cls, stmt: Any, dialect: sa.Dialect) -> Prepared | None:
        compiled = stmt.compile(dialect=dialect)
        binds = compiled.binds
        if any(b.expanding for b in binds.values()):
            return None
        positional = compiled.positiontup is not None
        names = list(compiled.positiontup) if positional else list(binds)
        fixed = {n: binds[n].value for n in names if not binds[n].required}
        bind_procs = [binds[n].type._cached_bind_processor(dialect) for n in names]
        columns = compiled._result_columns
        keys = [c[0] for c in columns]
        types = [c[3] for c in columns]
        return cls(compiled.string, names, positional, fixed, bind_procs, keys, types, dialect)

    def _args(self, params: dict[str, Any]) -> list[Any] | dict[str, Any] | None:
        fixed = self.fixed
        try:
            if fixed:
                values = [
                    params[n] if n in params or n not in fixed else fixed[n] for n in self.names
                ]
            else:
                values = [params[n] for n in self.names]
        except KeyError:
            return None
        for i, proc in self.procs:
            if values[i] is not None:
                values[i] = proc(values[i])
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def run(self, raw: Any, params: Any) -> FastResult | None:
        """Execute on the driver connection `raw`; None when this parameter set needs
        SQLAlchemy's path."""
        if isinstance(params, dict):
            args = self._args(params)
            if args is None:
                return None
            cursor = self._call(args, lambda cur: cur.execute(self.sql, args), raw)
            if not self.returns_rows:
                return FastResult([], cursor.rowcount)
            return FastResult(self._rows(cursor), -1)
        if self.returns_rows or not isinstance(params, Sequence) or not params:
            return None
        maybe = [self._args(p) for p in params]
        many = [a for a in maybe if a is not None]
        if len(many) != len(maybe):
            return None
        cursor = self._call(many, lambda cur: cur.executemany(self.sql, many), raw)
        return FastResult([], cursor.rowcount)

    def _call(self, params: Any, call: Callable[[Any], Any], raw: Any) -> Any:
        """Run on a new cursor, turning driver errors into SQLAlchemy's (IntegrityError ->
        409, deadlock victims keep their sqlstate for the retry)."""
        cursor = raw.cursor()
        try:
            call(cursor)
        except self.error as exc:
            raise sa.exc.DBAPIError.instance(self.sql, params, exc, self.error) from exc
        return cursor

    def _rows(self, cursor: Any) -> list[Any]:
        fetched = cursor.fetchall()
        procs = self.result_procs
        if procs is None:
            codes = [d[1] for d in cursor.description]
            procs = self.result_procs = [
                t._cached_result_processor(self.dialect, code)
                for t, code in zip(self.result_types, codes, strict=True)
            ]
        make = self.row
        if not any(procs):
            return [make._make(r) for r in fetched]
        return [
            make._make([v if p is None else p(v) for v, p in zip(r, procs, strict=True)])
            for r in fetched
        ]


class FastResult:
    """The subset of SQLAlchemy's result API that callers of hot statements use."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def all(self) -> list[Any]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None
