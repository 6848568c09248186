"""Status intake and host liveness: the only way a port becomes ACTIVE (DESIGN §6).

Rules, applied in batched transactions (many reports per transaction):

* a report counts only if it comes from the port's current binding host, and, for that
  binding, is not older than the revision the binding started at (`port_provisioning.revision`,
  stamped by the compiler); before the compiler has stamped a new binding, only a report of the
  port's exact current revision counts. Stale reports from a previous binding are ignored.
* SUCCESS -> ACTIVE (DOWN if admin_state_up is false); FAILURE -> ERROR with the reason;
  REMOVED or PENDING -> DOWN.
* a host with no heartbeat for `agent_down_time` is dead: its ports go DOWN (liveness sweep).

Status writes bump revision and log an "update" (see `portstatus`). When the acknowledged
revision is exactly the port's revision, `port_provisioning.revision` is moved to the bumped
revision so the compiler knows the host already holds that content and does not echo it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats.aio.client
import nats.aio.msg
import nats.errors
import sqlalchemy as sa

from alcor.southbound import build
from alcor.southbound.batcher import Batcher
from alcor.southbound.portstatus import lock_ports, set_status, upsert
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import hosts, port_provisioning

log = logging.getLogger(__name__)

PORT_STATUS = {pb.SUCCESS: "ACTIVE", pb.FAILURE: "ERROR", pb.PENDING: "DOWN", pb.REMOVED: "DOWN"}


def _accepted(report_host: str, revision: int, port: Any, pp: Any) -> bool:
    if port.binding_host_id != report_host:
        return False
    if pp is not None and pp["host_id"] == report_host:
        return revision >= pp["bound_revision"]
    return revision == port.revision_number


def apply_reports(uow: UnitOfWork, reports: list[tuple[str, pb.ResourceStatus, float]]) -> int:
    """Apply (host_id, port status, sent_at) reports; returns how many were accepted."""
    last: dict[str, tuple[str, pb.ResourceStatus, float]] = {}
    for item in reports:
        if item[1].resource_type in ("port", ""):
            last[item[1].id] = item  # a later report of the same port supersedes
    if not last:
        return 0
    ports = lock_ports(uow, last)
    pps: dict[str, Any] = {}
    for part in build.chunked(last):
        stmt = sa.select(port_provisioning).where(port_provisioning.c.port_id.in_(part))
        pps.update({r["port_id"]: r for r in uow.execute(stmt).mappings()})
    changes: list[tuple[Any, str]] = []
    accepted: list[tuple[str, pb.ResourceStatus, float]] = []
    for port_id, (host_id, st, sent_at) in last.items():
        port = ports.get(port_id)
        if port is None or not _accepted(host_id, st.revision, port, pps.get(port_id)):
            continue
        status = PORT_STATUS.get(st.state, "DOWN")
        if status == "ACTIVE" and port.admin_state_up is False:
            status = "DOWN"
        changes.append((port, status))
        accepted.append((host_id, st, sent_at))
    bumped = set_status(uow, changes)
    stamps = []
    for host_id, st, sent_at in accepted:
        port, pp = ports[st.id], pps.get(st.id)
        if st.revision == port.revision_number:
            revision = bumped.get(st.id, port.revision_number)  # host holds this content
        elif pp is not None and pp["host_id"] == host_id:
            revision = pp["revision"]
        else:
            revision = st.revision
        bound = pp["bound_revision"] if pp is not None and pp["host_id"] == host_id else None
        stamps.append(
            {
                "port_id": st.id,
                "host_id": host_id,
                "revision": revision,
                "bound_revision": st.revision if bound is None else bound,
                "state": pb.ProgramState.Name(st.state),
                "reason": st.reason[:255],
                "received_at": st.received_at or None,
                "programmed_at": st.programmed_at or None,
                "reported_at": sent_at or None,
            }
        )
    upsert(uow, port_provisioning, stamps, ["port_id"])
    return len(accepted)


def sweep_dead_hosts(uow: UnitOfWork, down_time: float) -> int:
    """Ports bound to hosts silent for `down_time` go DOWN; returns how many changed."""
    cutoff = uow.now - down_time
    dead = [
        r.host_id
        for r in uow.execute(sa.select(hosts.c.host_id).where(hosts.c.heartbeat_at < cutoff))
    ]
    ids: list[str] = []
    col = build.ports_t.c
    for part in build.chunked(dead):
        stmt = sa.select(col.id).where(col.binding_host_id.in_(part), col.status != "DOWN")
        ids.extend(r.id for r in uow.execute(stmt))
    if not ids:
        return 0
    ports = lock_ports(uow, ids)
    return len(set_status(uow, [(p, "DOWN") for p in ports.values()]))


class StatusIntake:
    """Queue-subscribes status reports and runs the periodic liveness sweep."""

    def __init__(
        self,
        db: Database,
        nc: nats.aio.client.Client,
        agent_down_time: float,
        touch: Any = None,
    ) -> None:
        self.db = db
        self.nc = nc
        self.down_time = agent_down_time
        self.touch = touch  # callable(host_id): a report is also a sign of life
        self.batcher: Batcher[tuple[str, pb.ResourceStatus, float]] = Batcher(self._apply)
        self.accepted = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.sub: Any = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(
            subjects.STATUS, subjects.SERVER_QUEUE, cb=self._on_report
        )
        self.tasks = [
            asyncio.create_task(self.batcher.run()),
            asyncio.create_task(self._sweep_loop()),
        ]

    async def stop(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.sub.unsubscribe()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _on_report(self, msg: nats.aio.msg.Msg) -> None:
        report = pb.StatusReport.FromString(msg.data)
        if self.touch is not None and report.host_id:
            self.touch(report.host_id)
        for st in report.statuses:
            self.batcher.put((report.host_id, st, report.sent_at))

    async def _apply(self, items: list[tuple[str, pb.ResourceStatus, float]]) -> None:
        self.accepted += await self.db.write(apply_reports, items)

    async def _sweep_loop(self) -> None:
        interval = max(0.2, min(self.down_time / 4, 15.0))
        while True:
            await asyncio.sleep(interval)
            try:
                changed = await self.db.write(sweep_dead_hosts, self.down_time)
                if changed:
                    log.info("liveness sweep: %d ports DOWN", changed)
            except Exception:
                log.exception("liveness sweep failed")
