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

The southbound's reads (the compiler's batch, the full-state RPCs) take the same path through
`Select` and `SelectIn`: a loader's `column IN (ids)` is compiled once per dialect and per list
size, sizes rounded up to a power of two (the list padded with its last id, which selects
nothing more), so a one-port batch's dozen loaders cost the driver's time, not SQLAlchemy's
expanding-IN compilation and result set-up (about 0.3 ms each on this machine).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

S = TypeVar("S")

IN_CHUNK = 900  # ids per query: under SQLite's 999 bound-parameter floor on old builds

_HOT: dict[int, Any] = {}  # id(statement) -> statement (kept alive: ids stay unique)
_COMPILED: dict[tuple[int, str], Prepared | None] = {}


def hot(stmt: S) -> S:
    """Mark a long-lived statement for the fast path; returns it unchanged."""
    _HOT[id(stmt)] = stmt
    return stmt


def statement(stmt_id: int) -> Any:
    """The hot statement whose id() is `stmt_id`."""
    return _HOT[stmt_id]


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

    def bound(self, params: Any) -> tuple[Any, Callable[[Any], Any]] | None:
        """The driver's arguments for `params` (a dict, or a list of them for executemany)
        and the call that runs them on a cursor; None when they need SQLAlchemy's path."""
        if isinstance(params, dict):
            args = self._args(params)
            if args is None:
                return None
            return args, lambda cur: cur.execute(self.sql, args)
        if self.returns_rows or not isinstance(params, Sequence) or not params:
            return None
        maybe = [self._args(p) for p in params]
        many = [a for a in maybe if a is not None]
        if len(many) != len(maybe):
            return None
        return many, lambda cur: cur.executemany(self.sql, many)

    def run(self, raw: Any, params: Any) -> FastResult | None:
        """Execute on the driver connection `raw`; None when this parameter set needs
        SQLAlchemy's path."""
        bound = self.bound(params)
        if bound is None:
            return None
        cursor = self._call(bound[0], bound[1], raw)
        if self.returns_rows and isinstance(params, dict):
            return FastResult(self._rows(cursor), -1)
        return FastResult([], cursor.rowcount)

    def _call(self, params: Any, call: Callable[[Any], Any], raw: Any) -> Any:
        """Run on a new cursor (after the writes deferred on `raw`, in the same round trip),
        turning driver errors into SQLAlchemy's (IntegrityError -> 409, deadlock victims
        keep their sqlstate for the retry)."""
        cursor = raw.cursor()
        deferred = _DEFERRED.pop(id(raw), None)
        try:
            if deferred:
                with raw.pipeline():
                    _send(raw, deferred)
                    call(cursor)
            else:
                call(cursor)
        except self.error as exc:
            raise sa.exc.DBAPIError.instance(self.sql, params, exc, self.error) from exc
        return cursor

    def _rows(self, cursor: Any) -> list[Any]:
        fetched = cursor.fetchall()
        procs = self.result_procs
        if procs is None:
            procs = self._result_procs(cursor)
        make = self.row
        if not any(procs):
            return [make._make(r) for r in fetched]
        return [
            make._make([v if p is None else p(v) for v, p in zip(r, procs, strict=True)])
            for r in fetched
        ]

    def dicts(self, raw: Any, params: dict[str, Any]) -> list[Mapping[Any, Any]] | None:
        """A select's rows as dicts keyed like SQLAlchemy's `.mappings()` (None: this
        parameter set needs SQLAlchemy's path)."""
        args = self._args(params)
        if args is None:
            return None
        cursor = self._call(args, lambda cur: cur.execute(self.sql, args), raw)
        fetched = cursor.fetchall()
        procs = self.result_procs
        if procs is None:
            procs = self._result_procs(cursor)
        cursor.close()
        keys = self.keys
        if not any(procs):
            return [dict(zip(keys, r, strict=True)) for r in fetched]
        return [
            {k: v if p is None else p(v) for k, v, p in zip(keys, r, procs, strict=True)}
            for r in fetched
        ]

    def _result_procs(self, cursor: Any) -> list[Callable[[Any], Any] | None]:
        codes = [d[1] for d in cursor.description]
        procs = self.result_procs = [
            t._cached_result_processor(self.dialect, code)
            for t, code in zip(self.result_types, codes, strict=True)
        ]
        return procs


# Writes deferred on a driver connection (`defer`): sent in order, in one pipeline (one round
# trip), with the next statement run on that connection or with its commit.
# Keyed by id(): sqlite3 connections take no weak reference; an entry lives from a deferred
# write to the next statement, the commit or the rollback of its transaction.
_DEFERRED: dict[int, list[Callable[[Any], Any]]] = {}


def defer(raw: Any, fast: Prepared, params: Any) -> bool:
    """Queue a write on the psycopg connection `raw` whose result nobody reads (False: it
    needs SQLAlchemy's path, run it now). Why: a port create's last writes (its bucket, its
    allocation, its row, its groups) each cost a round trip, with the thread waiting for
    the GIL after each; queued, they go out with the change-log lock and COMMIT. Every
    statement run on `raw` meanwhile (here, or through SQLAlchemy: `flush`) sends them
    first, so PostgreSQL sees the same statements in the same order; only a deferred
    write's error surfaces later, from that statement or the commit (the transaction
    fails either way)."""
    bound = fast.bound(params)
    if bound is None:
        return False
    _DEFERRED.setdefault(id(raw), []).append(bound[1])
    return True


def _send(raw: Any, deferred: list[Callable[[Any], Any]]) -> None:
    for call in deferred:
        call(raw.cursor())


def send_deferred(raw: Any) -> None:
    """Send the writes deferred on `raw` (in a pipeline the caller opened)."""
    deferred = _DEFERRED.pop(id(raw), None)
    if deferred:
        _send(raw, deferred)


def run_together(raw: Any, reads: list[tuple[Prepared, Any]]) -> list[FastResult | None]:
    """Run selects on the psycopg connection `raw` in one pipeline, after the writes deferred
    on it (`UnitOfWork.prefetch` says why); a result is None where the parameters need
    SQLAlchemy's path (that read is then simply not prefetched)."""
    cursors: list[Any] = []
    try:
        with raw.pipeline():
            send_deferred(raw)
            for fast, params in reads:
                bound = fast.bound(params)
                cursor = None
                if bound is not None:
                    cursor = raw.cursor()
                    bound[1](cursor)
                cursors.append(cursor)
    except raw.Error as exc:
        raise sa.exc.DBAPIError.instance("(prefetched reads)", None, exc, raw.Error) from exc
    return [
        None if cursor is None else FastResult(fast._rows(cursor), -1)
        for (fast, _), cursor in zip(reads, cursors, strict=True)
    ]


def flush(raw: Any) -> None:
    """Run the writes deferred on `raw` now, as one pipeline (before a statement that
    SQLAlchemy runs on it)."""
    deferred = _DEFERRED.pop(id(raw), None)
    if not deferred:
        return
    try:
        with raw.pipeline():
            _send(raw, deferred)
    except raw.Error as exc:
        raise sa.exc.DBAPIError.instance("(deferred writes)", None, exc, raw.Error) from exc


def discard(raw: Any) -> None:
    """Forget the writes deferred on `raw` (its transaction rolled back)."""
    _DEFERRED.pop(id(raw), None)


def _driver(conn: sa.Connection) -> Any:
    """The driver's own connection under `conn` (in `conn`'s transaction)."""
    return conn.connection.driver_connection


class Select:
    """A long-lived select whose rows the southbound reads as mappings: run on the driver
    connection of an `sa.Connection` when the statement compiles to the fast path."""

    def __init__(self, stmt: sa.Select[Any]) -> None:
        self.stmt = stmt
        self._compiled: dict[str, Prepared | None] = {}

    def _prepared(self, dialect: sa.Dialect) -> Prepared | None:
        try:
            return self._compiled[dialect.name]
        except KeyError:
            fast = _mapping_form(self.stmt, dialect)
            self._compiled[dialect.name] = fast
            return fast

    def rows(self, conn: sa.Connection, params: dict[str, Any]) -> list[Mapping[Any, Any]]:
        fast = self._prepared(conn.dialect)
        raw = _driver(conn) if fast is not None else None
        if fast is not None and raw is not None:
            found = fast.dicts(raw, params)
            if found is not None:
                return found
        return list(conn.execute(self.stmt, params).mappings().all())


class SelectIn:
    """A long-lived select (or delete) restricted to `column IN ids` per call (ids
    deduplicated in their order, `IN_CHUNK` per query). Each list size is rounded up to a
    power of two and padded with a repeated id, so a dialect sees at most a dozen statement
    texts, each compiled once."""

    def __init__(self, stmt: Any, column: sa.ColumnElement[Any]) -> None:
        self.stmt = stmt
        self.column = column
        self._compiled: dict[tuple[str, int], Prepared | None] = {}

    def _prepared(self, dialect: sa.Dialect, size: int) -> Prepared | None:
        key = (dialect.name, size)
        try:
            return self._compiled[key]
        except KeyError:
            binds = [sa.bindparam(f"in_{i}", type_=self.column.type) for i in range(size)]
            stmt = self.stmt.where(self.column.in_(binds))
            if isinstance(self.stmt, sa.Select):
                fast = _mapping_form(stmt, dialect)
            else:
                fast = Prepared.build(stmt, dialect)
            self._compiled[key] = fast
            return fast

    def _parts(self, ids: Iterable[Any]) -> Iterator[list[Any]]:
        values = list(dict.fromkeys(ids))
        for start in range(0, len(values), IN_CHUNK):
            yield values[start : start + IN_CHUNK]

    def _fast(
        self, conn: sa.Connection, part: list[Any], params: dict[str, Any] | None = None
    ) -> tuple[Prepared, Any, dict[str, Any]] | None:
        size = min(IN_CHUNK, 1 << (len(part) - 1).bit_length())
        fast = self._prepared(conn.dialect, size)
        raw = _driver(conn) if fast is not None else None
        if fast is None or raw is None:
            return None
        padded = part + [part[-1]] * (size - len(part))
        return fast, raw, {**(params or {}), **{f"in_{i}": v for i, v in enumerate(padded)}}

    def rows(
        self, conn: sa.Connection, ids: Iterable[Any], params: dict[str, Any] | None = None
    ) -> list[Mapping[Any, Any]]:
        """The select's rows for these ids (none: no query); `params` are the values of the
        statement's own bind parameters."""
        out: list[Mapping[Any, Any]] = []
        for part in self._parts(ids):
            found = None
            fast = self._fast(conn, part, params)
            if fast is not None:
                found = fast[0].dicts(fast[1], fast[2])
            if found is None:
                stmt = self.stmt.where(self.column.in_(part))
                found = list(conn.execute(stmt, params or {}).mappings().all())
            out.extend(found)
        return out

    def run(self, conn: sa.Connection, ids: Iterable[Any]) -> None:
        """Execute the (delete) statement for these ids (none: no statement)."""
        for part in self._parts(ids):
            fast = self._fast(conn, part)
            if fast is None or fast[0].run(fast[1], fast[2]) is None:
                conn.execute(self.stmt.where(self.column.in_(part)))


def _mapping_form(stmt: Any, dialect: sa.Dialect) -> Prepared | None:
    """`stmt` compiled for dict rows; None when it needs SQLAlchemy (expanding binds, or two
    result columns of one name, which `.mappings()` tells apart and a dict would not)."""
    fast = Prepared.build(stmt, dialect)
    if fast is None or not fast.returns_rows or len(set(fast.keys)) != len(fast.keys):
        return None
    return fast


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
