"""Status intake and host liveness: the only way a port becomes ACTIVE (DESIGN §6).

Rules, applied in batched transactions (many reports per transaction):

* a report counts only if it comes from the port's current binding host and is not older than
  the revision the last stamped binding started at (`port_provisioning.bound_revision`, stamped
  by the compiler once it published a new binding, or by the first report accepted for it). A
  host only ever holds revisions at which the port was bound to it, so a report from the
  current host at or after that start belongs to the current binding (or to a later one the
  compiler has not stamped yet); an older one is left over from a previous binding there.
  Revision gaps do not matter: hosts hold the newest revision they were sent and compare with
  >=, and status writes bump revisions without telling the hosts (see `portstatus`).
* SUCCESS -> ACTIVE (DOWN if admin_state_up is false); FAILURE -> ERROR with the reason;
  REMOVED or PENDING -> DOWN.
* a host with no heartbeat for `agent_down_time` is dead: its ports go DOWN (liveness sweep).
  That is status only; the host's last report stays in `port_provisioning`, so a host heard
  from again gets back the status its reports imply (`revive_hosts`, run with the heartbeat
  write) without re-reporting: an agent that stayed up and connected has nothing new to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import nats.aio.client
import nats.aio.msg
import nats.errors
import sqlalchemy as sa

from alcor import metrics
from alcor.southbound import build, gateways
from alcor.southbound.batcher import Batcher
from alcor.southbound.portstatus import (
    LockedPort,
    lock_ports,
    provisioning,
    set_status,
    upsert,
)
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import hosts, port_provisioning

log = logging.getLogger(__name__)

GATEWAY_INTERVAL = 0.5  # seconds between two runs of the gateway scheduler
DRAIN_TIMEOUT = 5.0  # seconds a stopping intake waits to apply the reports it already took

PORT_STATUS: dict[int, str] = {
    pb.SUCCESS: "ACTIVE",
    pb.FAILURE: "ERROR",
    pb.PENDING: "DOWN",
    pb.REMOVED: "DOWN",
}


def _status(state: int, admin_state_up: bool | None) -> str:
    status = PORT_STATUS.get(state, "DOWN")
    return "DOWN" if status == "ACTIVE" and admin_state_up is False else status


def _accepted(report_host: str, revision: int, port: LockedPort, pp: build.Row | None) -> bool:
    return port.binding_host_id == report_host and (pp is None or revision >= pp["bound_revision"])


def apply_reports(uow: UnitOfWork, reports: list[tuple[str, pb.ResourceStatus, float]]) -> int:
    """Apply (host_id, status, sent_at) reports of ports and floating IPs; returns how many
    port reports were accepted."""
    # a later report of the same port by the same host supersedes (during a live migration
    # two hosts report one port: its binding's and an inactive binding's)
    last: dict[tuple[str, str], tuple[str, pb.ResourceStatus, float]] = {}
    fips: dict[str, tuple[str, pb.ResourceStatus, float]] = {}
    for item in reports:
        if item[1].resource_type in ("port", ""):
            last[item[1].id, item[0]] = item
        elif item[1].resource_type == "floatingip":
            fips[item[1].id] = item
    if fips:
        _apply_fip_reports(uow, fips)
    if not last:
        return 0
    port_ids = {pid for pid, _ in last}
    ports = lock_ports(uow, port_ids)
    pps = provisioning(uow.conn, port_ids)
    changes: list[tuple[LockedPort, str]] = []
    stamps: list[dict[str, Any]] = []
    elsewhere: list[tuple[LockedPort, str, int]] = []
    for (port_id, _), (host_id, st, sent_at) in last.items():
        port = ports.get(port_id)
        pp = pps.get(port_id)
        if port is None:
            continue
        if not _accepted(host_id, st.revision, port, pp):
            if port.binding_host_id != host_id:
                elsewhere.append((port, host_id, st.state))
            continue
        status = _status(st.state, port.admin_state_up)
        changes.append((port, status))
        # The first report of a binding the compiler has not stamped yet starts it.
        same = pp is not None and pp["host_id"] == host_id
        committed_at = pp["committed_at"] if pp is not None and same else None
        turned_active = status == "ACTIVE" and port.status != "ACTIVE"
        if turned_active and committed_at:
            # for the commit -> ACTIVE histogram (`alcor.metrics`), once committed
            since_commit = uow.now - committed_at
            uow.emit("port_active", {"port_id": port_id, "since_commit": since_commit})
        # when this binding last turned ACTIVE (`alcor port trace`), kept while it stays so
        active_at = uow.now if turned_active else (pp["active_at"] if pp and same else None)
        stamps.append(
            {
                "port_id": port_id,
                "host_id": host_id,
                "revision": st.revision,
                "bound_revision": pp["bound_revision"] if pp is not None and same else st.revision,
                "state": pb.ProgramState.Name(st.state),
                "reason": st.reason[:255],
                "received_at": st.received_at or None,
                "programmed_at": st.programmed_at or None,
                "reported_at": sent_at or None,
                # what the host programmed; a report without one (after a full resync) leaves
                # the last id of this binding in place
                "reported_request_id": st.request_id
                or (pp["reported_request_id"] if pp is not None and same else None),
                "active_at": active_at if status == "ACTIVE" else None,
            }
        )
    set_status(uow, changes)
    upsert(uow, port_provisioning, stamps, ["port_id"])
    if elsewhere:
        _apply_binding_reports(uow, elsewhere)
    return len(stamps)


def _apply_binding_reports(uow: UnitOfWork, reports: list[tuple[LockedPort, str, int]]) -> None:
    """Reports of hosts holding an inactive binding of a port (a live migration's
    destination): the port's status is its active binding's, so they change only their
    binding's `state`; one that turns SUCCESS is the VIF plugged there, which Nova waits for
    before it migrates (ML2 tells Nova directly too, `notify_port_active_direct`)."""
    b = build.port_bindings_t
    held = {
        (r.port_id, r.host): r.state
        for r in uow.execute(
            sa.select(b.c.port_id, b.c.host, b.c.state).where(
                b.c.port_id.in_(sorted({p.id for p, _, _ in reports}))
            )
        )
    }
    for port, host, state in reports:
        name = pb.ProgramState.Name(state)
        if (port.id, host) not in held or held[port.id, host] == name:
            continue
        uow.execute(b.update().where(b.c.port_id == port.id, b.c.host == host).values(state=name))
        if state == pb.SUCCESS:
            uow.emit(
                "port_binding_plugged",
                {
                    "port_id": port.id,
                    "device_id": port.device_id,
                    "device_owner": port.device_owner,
                },
            )


def _apply_fip_reports(
    uow: UnitOfWork, last: dict[str, tuple[str, pb.ResourceStatus, float]]
) -> None:
    """A floating IP is ACTIVE once the host of its port says it programmed it, DOWN when
    that host says it no longer holds it; reports from any other host are stale."""
    f, p = build.fips_t, build.ports_t
    stmt = (
        sa.select(f.c.id, f.c.status, f.c.revision_number, p.c.binding_host_id)
        .select_from(f.join(p, p.c.id == f.c.port_id))
        .where(f.c.id.in_(sorted(last)))
        .with_for_update(of=f)
    )
    for row in uow.execute(stmt):
        host_id, st, _ = last[row.id]
        status = "ACTIVE" if st.state == pb.SUCCESS else "DOWN"
        if row.binding_host_id != host_id or row.status == status:
            continue
        uow.execute(
            f.update()
            .where(f.c.id == row.id, f.c.revision_number == row.revision_number)
            .values(
                status=status, revision_number=(row.revision_number or 0) + 1, updated_at=uow.now
            )
        )


def sweep_dead_hosts(uow: UnitOfWork, down_time: float) -> int:
    """Ports bound to hosts silent for `down_time` go DOWN; returns how many changed."""
    cutoff = uow.now - down_time
    # Locking the hosts' rows makes a heartbeat committing meanwhile wait for us and then see
    # our DOWN (`revive_hosts`), or, if it came first, drops its host from our list.
    stmt = (
        sa.select(hosts.c.host_id)
        .where(hosts.c.heartbeat_at < cutoff)
        .order_by(hosts.c.host_id)
        .with_for_update()
    )
    dead = [r.host_id for r in uow.execute(stmt)]
    ids: list[str] = []
    col = build.ports_t.c
    for part in build.chunked(dead):
        stmt = sa.select(col.id).where(col.binding_host_id.in_(part), col.status != "DOWN")
        ids.extend(r.id for r in uow.execute(stmt))
    if not ids:
        return 0
    ports = lock_ports(uow, ids)
    return set_status(uow, [(p, "DOWN") for p in ports.values()])


def revive_hosts(uow: UnitOfWork, host_ids: Iterable[str]) -> int:
    """Hosts heard from again after being taken for dead: their DOWN ports get back the status
    their last accepted report implies (ACTIVE or ERROR); returns how many changed."""
    col = build.ports_t.c
    pp = port_provisioning.c
    ids: list[str] = []
    for part in build.chunked(host_ids):
        stmt = (
            sa.select(col.id)
            .join_from(build.ports_t, port_provisioning, pp.port_id == col.id)
            .where(
                col.binding_host_id.in_(part),
                col.status == "DOWN",
                pp.host_id == col.binding_host_id,
                pp.state.in_(("SUCCESS", "FAILURE")),
            )
        )
        ids.extend(r.id for r in uow.execute(stmt))
    if not ids:
        return 0
    ports = lock_ports(uow, ids)
    reports = provisioning(uow.conn, ids)
    changes = [
        (p, _status(pb.ProgramState.Value(reports[p.id]["state"]), p.admin_state_up))
        for p in ports.values()
        if p.id in reports and reports[p.id]["host_id"] == p.binding_host_id
    ]
    return set_status(uow, changes)


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
            subjects.every(subjects.STATUS), subjects.SERVER_QUEUE, cb=self._on_report
        )
        self.tasks = [
            asyncio.create_task(self.batcher.run()),
            asyncio.create_task(self._sweep_loop()),
            asyncio.create_task(self._gateway_loop()),
        ]

    async def stop(self) -> None:
        """Stop taking reports, apply those already taken, then stop the loops: a report
        dropped by a replica that stops (the compiler lease handed over) leaves its port DOWN
        although its host programmed it, as no host sends the same report twice."""
        if self.sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.sub.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._applied(), DRAIN_TIMEOUT)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _applied(self) -> None:
        while not self.batcher.idle:
            await asyncio.sleep(0.01)

    async def _on_report(self, msg: nats.aio.msg.Msg) -> None:
        report = pb.StatusReport.FromString(msg.data)
        if not subjects.sent_by(msg.subject, report.host_id):
            log.warning("status report on %s for another host dropped", msg.subject)
            return
        if self.touch is not None:
            self.touch(report.host_id)
        for st in report.statuses:
            self.batcher.put((report.host_id, st, report.sent_at))

    async def _apply(self, items: list[tuple[str, pb.ResourceStatus, float]]) -> None:
        accepted = await self.db.write(apply_reports, items)
        self.accepted += accepted
        metrics.REPORTS.inc(accepted)

    async def _gateway_loop(self) -> None:
        """Routers' SNAT placement (`gateways`): often, since a new gateway waits for it, but
        a read unless something moves (no write transaction, no compiler wake-up)."""
        while True:
            await asyncio.sleep(GATEWAY_INTERVAL)
            try:
                pending = await self.db.read(gateways.moves, time.time(), self.down_time)
                moved = await self.db.write(gateways.schedule, self.down_time) if pending else 0
                if moved:
                    log.info("gateway scheduler: %d routers placed or moved", moved)
            except Exception:
                log.exception("gateway scheduling failed")

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
