"""Writing port status apart from intent, reading provisioning rows, and a portable upsert.

Why one helper: status changes come from four places (a host's report, a dead host, a host
heard from again, a rebinding) and each must look the same to API clients: Neutron bumps
`revision_number` and `updated_at` on a status change, and clients polling with revision checks
rely on it, so we do too, and emit a post-commit `port_status` event (Nova notifications).

What a status write does NOT do is log to the change log: that log is the intent stream the
compiler turns into goal states (DESIGN §2, "intent and status are apart"), and a status change
alters nothing a host must program, so the compiler never sees its own echo. Hosts therefore
hold revisions with gaps (a full state carries the bumped one, deltas the next content change);
they compare revisions with >=, and the status intake accepts reports from the binding's start
revision on, so gaps are harmless. The update is conditional on the revision read under lock,
so a concurrent API update is never overwritten.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alcor.southbound.build import Row, ports_t, rows_in
from alcor.store import prepared
from alcor.store.db import UnitOfWork
from alcor.store.prepared import SelectIn
from alcor.store.schema import port_provisioning

STATUS_COLUMNS = (
    ports_t.c.id,
    ports_t.c.status,
    ports_t.c.revision_number,
    ports_t.c.binding_host_id,
    ports_t.c.admin_state_up,
    ports_t.c.device_id,
    ports_t.c.device_owner,
)


_PROVISIONING = SelectIn(sa.select(port_provisioning), port_provisioning.c.port_id)


def provisioning(conn: sa.Connection, port_ids: Iterable[str]) -> dict[str, Row]:
    """port id -> its `port_provisioning` row (what its host was told and reported)."""
    rows = rows_in(conn, _PROVISIONING, port_ids)
    return {r["port_id"]: r for r in rows}


class LockedPort(NamedTuple):
    """A port's status-relevant columns, as `lock_ports` read them under lock."""

    id: str
    status: str | None
    revision_number: int | None
    binding_host_id: str | None
    admin_state_up: bool | None
    device_id: str | None
    device_owner: str | None


_LOCK = SelectIn(sa.select(*STATUS_COLUMNS).with_for_update(), ports_t.c.id)


def lock_ports(uow: UnitOfWork, ids: Iterable[str]) -> dict[str, LockedPort]:
    """Current status-relevant columns of these ports, row-locked on PostgreSQL."""
    rows = _LOCK.rows(uow.conn, sorted(set(ids)))  # sorted: a stable lock order
    return {r["id"]: LockedPort(**r) for r in rows}


def set_status(uow: UnitOfWork, changes: Sequence[tuple[LockedPort, str]]) -> int:
    """Apply (locked port row, new status) pairs; returns how many ports changed.

    Rows whose status already equals the new one are left alone (no revision churn).
    """
    changed = 0
    for row, status in changes:
        if row.status == status:
            continue
        revision = (row.revision_number or 0) + 1
        result = uow.execute(
            ports_t.update()
            .where(ports_t.c.id == row.id, ports_t.c.revision_number == row.revision_number)
            .values(status=status, revision_number=revision, updated_at=uow.now)
        )
        if result.rowcount:
            uow.emit(
                "port_status",
                {
                    "port_id": row.id,
                    "old": row.status,
                    "new": status,
                    "device_id": row.device_id,
                    "device_owner": row.device_owner,
                },
            )
            changed += 1
    return changed


def upsert(
    uow: UnitOfWork,
    table: sa.Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other given column (SQLite and PG)."""
    if not rows:
        return
    columns = tuple(c for c in rows[0] if c not in keys)
    uow.execute(_upsert_statement(uow.dialect, table, tuple(keys), columns), rows)


@functools.cache
def _upsert_statement(
    dialect: str, table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    """Built once per shape (a handful: subject seqs, provisioning stamps) and run on the
    driver (`prepared.hot`): building it per call was most of the compiler's advance."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values({c: sa.bindparam(c) for c in (*keys, *columns)})
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
    )
    return prepared.hot(stmt)


def nova_notified(uow: UnitOfWork, events: Sequence[dict[str, str]], at: float) -> None:
    """Stamp the ports Nova was told about (its event names the port in `tag`) with when and
    what, for `alcor port trace`."""
    pp = port_provisioning.c
    for event in events:
        uow.execute(
            port_provisioning.update()
            .where(pp.port_id == event["tag"])
            .values(nova_notified_at=at, nova_event=f"{event['name']} {event['status']}"[:64])
        )
