"""The database handle and the unit of work: every write goes through `Database.write`.

Why synchronous SQLAlchemy Core in worker threads rather than an async driver: a request's
transaction is a handful of short statements; running the whole unit of work in one worker
thread costs one thread hop per request, where aiosqlite/asyncpg under SQLAlchemy's async
layer pay a hop (or a greenlet switch) per statement. For SQLite the single writer thread is
also the natural serialisation point (no SQLITE_BUSY, no retries) and it commits whatever
queued up meanwhile in one transaction (group commit, see `_GroupWriter`); for PostgreSQL a pool of
worker threads, each with its own connection, runs transactions concurrently and psycopg
releases the GIL while it waits on the server.

The change log (transactional outbox) is written at the end of each unit of work, in the same
transaction. On PostgreSQL, a transaction-scoped advisory lock is taken just before those rows
are inserted and held to commit, so change-log `seq` order equals commit order and a reader
that has seen seq N can never later find a smaller committed seq (no gap races). That lock
covers only the last statements and the commit of a writing transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy import event

from alcor.store import prepared
from alcor.store.schema import changelog

T = TypeVar("T")

log = logging.getLogger(__name__)

# The API request being served (`X-Openstack-Request-Id`, set by `alcor.api.request_id`): a
# unit of work writes it on its change-log rows, so the compiler can carry it to the hosts.
# `Database.write` hands it to the writer thread, where it is set again while the work runs
# (log lines written there name the request too).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "alcor_request_id", default=None
)
# When that request arrived (unix time), written beside it: `alcor port trace` starts there.
REQUEST_STARTED: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "alcor_request_started", default=None
)


class RequestStamp(NamedTuple):
    """The API request a unit of work serves, as handed from the event loop to a DB thread."""

    id: str | None
    started_at: float | None


def current_request() -> RequestStamp:
    return RequestStamp(REQUEST_ID.get(), REQUEST_STARTED.get())


class on_behalf_of:
    """Run a block (in a DB thread) with the submitting request's id and arrival time set.
    A class, not `contextlib.contextmanager`: this runs for every unit of work, and the
    generator's machinery cost 3 µs of it."""

    __slots__ = ("request", "tokens")

    def __init__(self, request: RequestStamp) -> None:
        self.request = request

    def __enter__(self) -> None:
        self.tokens = (
            REQUEST_ID.set(self.request.id),
            REQUEST_STARTED.set(self.request.started_at),
        )

    def __exit__(self, *exc: object) -> None:
        REQUEST_ID.reset(self.tokens[0])
        REQUEST_STARTED.reset(self.tokens[1])


CHANGELOG_LOCK_KEY = 0x41C0_0001  # pg_advisory_xact_lock key serialising change-log writes
_CHANGELOG_LOCK = f"SELECT pg_advisory_xact_lock({CHANGELOG_LOCK_KEY})"
# inline(): no RETURNING of the new seq (which PostgreSQL would get by default, and which
# kept the rows off the driver's executemany).
_CHANGELOG_INSERT = prepared.hot(
    changelog.insert()
    .inline()
    .values({c.name: sa.bindparam(c.name) for c in changelog.c if c.name != "seq"})
)
RETRIES = 20  # neutron-lib's MAX_RETRIES: bulk creates racing for few free MACs need them
# deadlock_detected, serialization_failure, and unique_violation: two transactions that drew
# the same random value (a MAC) where neither could see the other's; run again, the loser
# draws anew, or its checks now see the winner's row and say what is taken (Neutron retries
# on a duplicate entry too). Units of work must start from their request again (`crud.fresh`).
_RETRY_SQLSTATES = {"40P01", "40001", "23505"}
_JSON = msgspec.json.Encoder()


def _retryable(exc: sa.exc.DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES


def _read_key(stmt: Any, params: Any) -> tuple[int, frozenset[Any]] | None:
    """What identifies a prefetched read (None: parameters that cannot be a key)."""
    try:
        return id(stmt), frozenset(params.items())
    except (TypeError, AttributeError):  # unhashable values, or executemany's list
        return None


_TABLES_READ: dict[int, frozenset[sa.TableClause]] = {}


def _tables_read(stmt_id: int) -> frozenset[sa.TableClause]:
    """The tables a hot select reads (subqueries included), worked out once per statement."""
    found = _TABLES_READ.get(stmt_id)
    if found is None:
        stmt = prepared.statement(stmt_id)
        found = _TABLES_READ[stmt_id] = frozenset(sa.sql.util.find_tables(stmt, include_joins=True))
    return found


def _json_encode(value: Any) -> str:
    return _JSON.encode(value).decode()


class UnitOfWork:
    """One transaction: a connection, a clock reading, and the change-log entries to write."""

    def __init__(self, conn: sa.Connection, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.now = time.time()
        self.changes: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []  # delivered only after commit
        self.cache: dict[Any, Any] = {}  # per-transaction memo for hooks (rows looked up)
        self.request_id = REQUEST_ID.get()  # the API request this work serves, if any
        self.requested_at = REQUEST_STARTED.get()
        # the driver's own connection, for hot statements (alcor.store.prepared)
        self.raw = conn.connection.driver_connection
        # `prefetch`ed results, each used once, with the tables each read
        self.prefetched: dict[Any, tuple[Any, frozenset[sa.TableClause]]] = {}

    def prefetch(self, reads: Iterable[tuple[Any, dict[str, Any]]]) -> None:
        """Run the hot selects `reads` (statement, parameters) now, together, and keep their
        results for the first `execute` of the same statement with the same parameters.

        Why: a port create looked up its quota limit, its network, its project's default
        security group and its subnets one after another, each a round trip during which
        the thread gave up the GIL and then waited to get it back. On PostgreSQL they go out
        as one pipeline (on SQLite this does nothing). Only reads that nothing in the unit
        of work writes before they are used belong here: a result is what the statement
        returned when it was prefetched; a write to a table it read drops it (it is then
        run again when asked for)."""
        if self.raw is None or self.dialect != "postgresql":
            return
        batch: dict[Any, tuple[prepared.Prepared, dict[str, Any]]] = {}
        for stmt, params in reads:
            fast = prepared.lookup(stmt, self.conn.dialect)
            key = _read_key(stmt, params)
            if fast is not None and fast.returns_rows and key is not None:
                batch[key] = (fast, params)
        if len(batch) < 2:
            return
        results = prepared.run_together(self.raw, list(batch.values()))
        for key, result in zip(batch, results, strict=True):
            if result is not None:
                self.prefetched[key] = (result, _tables_read(key[0]))

    def execute(self, stmt: Any, params: Any = None) -> Any:
        """Run a statement in this transaction (a `CursorResult`, or for hot statements a
        `FastResult` with the same first/all/scalar/rowcount/iteration)."""
        if self.prefetched:
            hit = self.prefetched.pop(_read_key(stmt, params), None) if params else None
            if hit is not None:
                return hit[0]
            self._written(stmt)
        if self.raw is not None and params is not None:
            fast = prepared.lookup(stmt, self.conn.dialect)
            if fast is not None:
                result = fast.run(self.raw, params)
                if result is not None:
                    return result
        return self.conn.execute(stmt, params) if params is not None else self.conn.execute(stmt)

    def _written(self, stmt: Any) -> None:
        """Drop the prefetched reads that `stmt` may change: those of its table for an
        INSERT or UPDATE, all of them for anything else (a DELETE may cascade)."""
        if isinstance(stmt, sa.Select):
            return
        table = getattr(stmt, "table", None) if isinstance(stmt, sa.Insert | sa.Update) else None
        if not isinstance(table, sa.TableClause):
            self.prefetched.clear()
            return
        for key in [k for k, (_, tables) in self.prefetched.items() if table in tables]:
            del self.prefetched[key]

    def defer(self, stmt: Any, params: Any) -> None:
        """Run a write whose result nobody reads: on PostgreSQL it is sent with the next
        statement of this transaction, or with its commit (`prepared.defer` says why)."""
        if self.prefetched:
            self._written(stmt)
        if self.raw is not None and self.dialect == "postgresql":
            fast = prepared.lookup(stmt, self.conn.dialect)
            if fast is not None and prepared.defer(self.raw, fast, params):
                return
        self.execute(stmt, params)

    def log(
        self,
        resource: str,
        resource_id: str,
        op: str,
        revision: int,
        *,
        network_id: str | None = None,
        host_id: str | None = None,
        old_host_id: str | None = None,
        project_id: str | None = None,
        parent_id: str | None = None,
    ) -> None:
        """Record a change for the southbound compiler (written at commit). `parent_id` names
        what the resource belongs to, so a deleted rule still says which group it left."""
        self.changes.append(
            {
                "resource": resource,
                "resource_id": resource_id,
                "op": op,
                "revision": revision,
                "network_id": network_id,
                "host_id": host_id or None,
                "old_host_id": old_host_id or None,
                "project_id": project_id,
                "parent_id": parent_id,
                "request_id": self.request_id,
                "requested_at": self.requested_at,
            }
        )

    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        """Announce something to in-process listeners (`Database.on_event`) once this
        transaction has committed; nothing is announced for a rolled-back one."""
        self.events.append((kind, payload))

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: a failure inside rolls back only what it did."""
        nested = self.conn.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            self.prefetched.clear()  # what was read inside may have seen what is undone
            raise
        else:
            nested.commit()

    def flush_changelog(self) -> None:
        """Write the change-log rows (SQLite: its single writer needs no lock)."""
        if not self.changes:
            return
        self._stamp_changes()
        self.execute(_CHANGELOG_INSERT, self.changes)

    def _stamp_changes(self) -> None:
        committed_at = time.time()
        for change in self.changes:
            change["committed_at"] = committed_at

    def commit(self) -> None:
        """Write the change log and commit. On PostgreSQL the deferred writes, the advisory
        lock, the change-log rows and COMMIT go out as one pipeline (one round trip): the
        lock is held for the server's time only. Sent one by one, the lock was also held
        while this thread waited for the GIL between the statements, which under load is
        milliseconds, and since the lock serialises every writing transaction, its hold time
        bounded the creates per second (measured: 9 ms waits for it, 139 creates/s at
        concurrency 50)."""
        if self.dialect != "postgresql" or self.raw is None:
            self.flush_changelog()
            self.conn.commit()
            return
        raw = self.raw
        try:
            with raw.pipeline():
                prepared.send_deferred(raw)
                if self.changes:
                    self._stamp_changes()
                    raw.execute(_CHANGELOG_LOCK)
                    fast = prepared.lookup(_CHANGELOG_INSERT, self.conn.dialect)
                    if fast is None or fast.run(raw, self.changes) is None:
                        raise AssertionError("change-log rows lack a column")
                raw.commit()
        except raw.Error as exc:  # as SQLAlchemy would raise it: retries see the sqlstate
            raise sa.exc.DBAPIError.instance(_CHANGELOG_LOCK, None, exc, raw.Error) from exc
        self.conn.commit()  # SQLAlchemy's side of it; psycopg sends nothing more (idle)


class Database:
    """A SQLAlchemy engine plus the worker threads that run units of work."""

    def __init__(self, url: str, pool_size: int = 8, echo: bool = False) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {
            "echo": echo,
            # JSON columns (fixed_ips, allocation_pools, ...) are decoded for every row of a
            # list; msgspec does it several times faster than the json module.
            "json_serializer": _json_encode,
            "json_deserializer": msgspec.json.decode,
        }
        if is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = pool_size + 1
            kwargs["poolclass"] = sa.pool.QueuePool
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 4
            # Fail fast when PostgreSQL is away (the API answers 503 at once): a connection
            # attempt gives up after 5 s, a request waiting for a pooled connection too.
            kwargs["pool_timeout"] = 5
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine = sa.create_engine(url, **kwargs)
        self.dialect = self.engine.dialect.name
        if is_sqlite:
            _sqlite_tuning(self.engine)
        else:
            _ping_when_idle(self.engine)
            _flush_deferred(self.engine)
        self._group = _GroupWriter(self) if is_sqlite else None
        self._writer = concurrent.futures.ThreadPoolExecutor(pool_size, "alcor-db-w")
        self._reader = concurrent.futures.ThreadPoolExecutor(max(2, pool_size // 2), "alcor-db-r")
        self._commit_listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[list[tuple[str, dict[str, Any]]]], None]] = []

    # -- running work ------------------------------------------------------------------
    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (in the writer thread) after every commit that logged changes."""
        self._commit_listeners.append(listener)

    def on_event(self, listener: Callable[[list[tuple[str, dict[str, Any]]]], None]) -> None:
        """Call `listener(events)` (in the writer thread) with the events that units of work
        emitted, after their transaction committed."""
        self._event_listeners.append(listener)

    def _notify(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Tell listeners about a commit; their failures are logged, never propagated (the
        transaction is committed, and the writer thread must survive)."""
        for listener in self._commit_listeners:
            try:
                listener()
            except Exception:
                log.exception("commit listener failed")
        if events:
            for event_listener in self._event_listeners:
                try:
                    event_listener(events)
                except Exception:
                    log.exception("event listener failed")

    def _begin(self, conn: sa.Connection) -> None:
        if self.dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(uow, *args)` in one transaction; commit, or roll back on any exception."""
        if self._group is not None:
            return self._group.submit(fn, args).result()
        return self._transaction(fn, args)

    def _transaction_for(
        self, request: RequestStamp, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> T:
        """`_transaction` in a worker thread, on behalf of the API request `request`."""
        with on_behalf_of(request):
            return self._transaction(fn, args)

    def _transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """One attempt after another while PostgreSQL picks this transaction as a deadlock
        or serialisation victim, or refuses a value another transaction took meanwhile (it
        has rolled back, so running it again is safe)."""
        for attempt in range(RETRIES):
            try:
                return self._attempt(fn, args)
            except sa.exc.DBAPIError as exc:
                if attempt + 1 == RETRIES or not _retryable(exc):
                    raise
                time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
        raise AssertionError("unreachable")

    def _attempt(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self.engine.connect() as conn:
            self._begin(conn)
            uow = UnitOfWork(conn, self.dialect)
            try:
                result = fn(uow, *args)
                uow.commit()
            except BaseException:
                if uow.raw is not None:
                    prepared.discard(uow.raw)
                conn.rollback()
                raise
        if uow.changes or uow.events:
            self._notify(uow.events)
        return result

    def _batch(self, jobs: list[_Job]) -> None:
        """Group commit: run queued units of work in one transaction, each in a savepoint
        so that a failing one rolls back alone; one commit for all of them."""
        # A job whose caller was cancelled before it started is dropped; once claimed, its
        # future cannot be cancelled any more, so setting its outcome below cannot fail.
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        if len(jobs) == 1:
            job = jobs[0]
            try:
                job.future.set_result(self._transaction_for(job.request, job.fn, job.args))
            except BaseException as exc:
                job.future.set_exception(exc)
            return
        done: list[tuple[_Job, Any]] = []
        changed = False
        events: list[tuple[str, dict[str, Any]]] = []
        try:
            with self.engine.connect() as conn:
                self._begin(conn)
                for job in jobs:
                    with on_behalf_of(job.request):
                        uow = UnitOfWork(conn, self.dialect)
                        savepoint = conn.begin_nested()
                        try:
                            result = job.fn(uow, *job.args)
                            uow.flush_changelog()
                        except Exception as exc:
                            savepoint.rollback()
                            job.future.set_exception(exc)
                            continue
                        savepoint.commit()
                    changed = changed or bool(uow.changes)
                    events.extend(uow.events)
                    done.append((job, result))
                conn.commit()
        except BaseException as exc:
            for job, _ in done:
                job.future.set_exception(exc)
            return
        for job, result in done:
            job.future.set_result(result)
        if changed or events:
            self._notify(events)

    def read_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in a read-only transaction."""
        with self.engine.connect() as conn:
            return self.read_on(conn, fn, *args)

    def read_on(self, conn: sa.Connection, fn: Callable[..., T], *args: Any) -> T:
        """`read_sync` on a connection the caller keeps (a hot path saves the pool's
        checkout and reset). SQLite's BEGIN and ROLLBACK go to the driver: through
        SQLAlchemy's execution they took 0.08 of a cold 0.29 ms resolve read."""
        if self.dialect != "sqlite":
            conn.begin()
            try:
                return fn(conn, *args)
            finally:
                conn.rollback()
        raw: Any = conn.connection.driver_connection
        raw.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            raw.execute("ROLLBACK")
            conn.rollback()  # SQLAlchemy's own transaction, if `fn` began one: nothing sent

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        if self._group is not None:
            return await asyncio.wrap_future(self._group.submit(fn, args))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._writer, self._transaction_for, current_request(), fn, args
        )

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self.read_sync, fn, *args)

    # -- observation (metrics) ---------------------------------------------------------
    def pool_status(self) -> dict[str, int]:
        """Connections of the pool: `checked_out` in use, `idle` kept open."""
        pool: Any = self.engine.pool
        if not hasattr(pool, "checkedout"):
            return {}
        return {"checked_out": pool.checkedout(), "idle": pool.checkedin()}

    def queue_depths(self) -> dict[str, int]:
        """Units of work waiting for a thread: writes (SQLite's group writer, or the writer
        pool on PostgreSQL) and reads."""
        writer = self._group.queue if self._group is not None else self._writer._work_queue
        return {"writer": writer.qsize(), "reader": self._reader._work_queue.qsize()}

    def close(self) -> None:
        if self._group is not None:
            self._group.stop()
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        self.engine.dispose()


@dataclasses.dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: concurrent.futures.Future[Any]
    request: RequestStamp  # the API request it serves (`current_request()` of the submitter)


class _GroupWriter:
    """SQLite's single writer thread. Requests that arrive while a transaction runs are
    committed together in the next one (group commit): under concurrency one commit (WAL
    frames written once) serves up to MAX_BATCH units of work, while a lone request still
    gets its own transaction with no extra statements."""

    MAX_BATCH = 64

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="alcor-db-writer", daemon=True)
        self.thread.start()

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.queue.put(_Job(fn, args, future, current_request()))
        return future

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self.MAX_BATCH:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                jobs.append(nxt)
            try:
                self.db._batch(jobs)
            except BaseException as exc:  # keep the only writer alive whatever happened
                log.exception("writer batch failed")
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)


IDLE_PING_S = 1.0  # a pooled connection idle this long is pinged before it is handed out


def _ping_when_idle(engine: sa.Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for connections idle for `IDLE_PING_S`: a ping
    is a round trip on every checkout, one more per unit of work (measured: 2.7 transactions
    per port create on PostgreSQL, of which one real). A connection that PostgreSQL dropped
    (a restart, a failover) has been idle since, longer than that, so it is still replaced
    before use; one that breaks while busy fails its request (503) and SQLAlchemy then
    invalidates the pool, as it did with the ping."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:  # the pool takes a new connection
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _flush_deferred(engine: sa.Engine) -> None:
    """Before SQLAlchemy runs a statement on a connection, the writes deferred on it go
    first (`UnitOfWork.defer`): the order PostgreSQL sees is the order they were made in."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: sa.Connection, *_args: Any) -> None:
        prepared.flush(conn.connection.driver_connection)


def _sqlite_tuning(engine: sa.Engine) -> None:
    """WAL + synchronous=NORMAL (durable at checkpoints, fast commits); explicit BEGINs."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN / BEGIN IMMEDIATE ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # SQLAlchemy's autobegin would emit nothing (isolation_level=None); nested
        # transactions (SAVEPOINT) still work because we BEGIN explicitly above.
        return None
