"""Hot statements on SQLite, run straight on the sqlite3 connection.

Why: executing a cached Core statement through SQLAlchemy costs about 20 µs of Python on
this machine, the sqlite3 call itself about 3 µs (measured with a primary-key select), and a
port create runs a dozen such statements in the single writer thread, so SQLAlchemy's
per-statement machinery was a fifth of a create's CPU. A statement marked `hot` is compiled
once for SQLite (SQL text, positional parameter order, the column types' bind and result
processors), and `UnitOfWork.execute` runs it on the raw connection inside the same
transaction. Anything the fast path does not cover exactly (PostgreSQL, expanding IN lists,
a parameter set lacking a bind, executemany with RETURNING) takes SQLAlchemy's path, so
results never differ, only their cost. Errors are re-raised as SQLAlchemy's exception types,
so callers and the API's error handlers see what they always saw.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

S = TypeVar("S")

_HOT: dict[int, Any] = {}  # id(statement) -> statement (kept alive: ids stay unique)
_COMPILED: dict[int, Prepared | None] = {}


def hot(stmt: S) -> S:
    """Mark a long-lived statement for the fast path; returns it unchanged."""
    _HOT[id(stmt)] = stmt
    return stmt


def lookup(stmt: Any, dialect: sa.Dialect) -> Prepared | None:
    """The compiled form of a hot statement (None: not hot, or not coverable)."""
    key = id(stmt)
    if key not in _HOT:
        return None
    if key not in _COMPILED:
        _COMPILED[key] = Prepared.build(stmt, dialect)
    return _COMPILED[key]


class Prepared:
    """SQL text and processors of one statement compiled for SQLite."""

    def __init__(
        self,
        sql: str,
        names: list[str],
        fixed: dict[str, Any],
        bind_procs: list[Callable[[Any], Any] | None],
        keys: list[str],
        result_procs: list[Callable[[Any], Any] | None],
        returns_rows: bool,
    ) -> None:
        self.sql = sql
        self.names = names
        self.fixed = fixed  # binds with a value of their own (literals, LIMIT 1)
        self.bind_procs = bind_procs
        self.procs = [(i, p) for i, p in enumerate(bind_procs) if p is not None]
        self.keys = keys
        self.result_procs = result_procs
        self.returns_rows = returns_rows
        self.row: Any = collections.namedtuple("Row", keys, rename=True) if keys else None  # type: ignore[misc]

    @classmethod
    def build(cls, stmt: Any, dialect: sa.Dialect) -> Prepared | None:
        compiled = stmt.compile(dialect=dialect)
        if compiled.positiontup is None or any(b.expanding for b in compiled.binds.values()):
            return None
        names = list(compiled.positiontup)
        binds = compiled.binds
        fixed = {n: binds[n].value for n in names if not binds[n].required}
        bind_procs = [binds[n].type._cached_bind_processor(dialect) for n in names]
        columns = compiled._result_columns
        keys = [c[0] for c in columns]
        result_procs = [c[3]._cached_result_processor(dialect, None) for c in columns]
        returns_rows = bool(columns)
        return cls(compiled.string, names, fixed, bind_procs, keys, result_procs, returns_rows)

    def _args(self, params: dict[str, Any]) -> list[Any] | None:
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
        return values

    def run(self, raw: sqlite3.Connection, params: Any) -> FastResult | None:
        """Execute on `raw`; None when this parameter set needs SQLAlchemy's path."""
        if isinstance(params, dict):
            args = self._args(params)
            if args is None:
                return None
            cursor = _guard(self.sql, args, lambda: raw.execute(self.sql, args))
            if not self.returns_rows:
                return FastResult([], cursor.rowcount)
            return FastResult(self._rows(cursor.fetchall()), -1)
        if self.returns_rows or not isinstance(params, Sequence) or not params:
            return None
        maybe = [self._args(p) for p in params]
        many = [a for a in maybe if a is not None]
        if len(many) != len(maybe):
            return None
        cursor = _guard(self.sql, many, lambda: raw.executemany(self.sql, many))
        return FastResult([], cursor.rowcount)

    def _rows(self, fetched: list[tuple[Any, ...]]) -> list[Any]:
        procs = self.result_procs
        make = self.row
        if not any(procs):
            return [make._make(r) for r in fetched]
        return [
            make._make([v if p is None else p(v) for v, p in zip(r, procs, strict=True)])
            for r in fetched
        ]


def _guard(sql: str, params: Any, call: Callable[[], sqlite3.Cursor]) -> sqlite3.Cursor:
    """Run a sqlite3 call, turning its errors into SQLAlchemy's (IntegrityError -> 409)."""
    try:
        return call()
    except sqlite3.IntegrityError as exc:
        raise sa.exc.IntegrityError(sql, params, exc) from exc
    except sqlite3.OperationalError as exc:
        raise sa.exc.OperationalError(sql, params, exc) from exc
    except sqlite3.Error as exc:
        raise sa.exc.DatabaseError(sql, params, exc) from exc


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
