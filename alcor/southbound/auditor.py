"""The periodic state audit: hosts whose state differs from intent resync by themselves.

Every `audit_interval` seconds, the replica holding the compiler lease (one auditor for the
region, next to the one publisher) audits the live hosts (`audit.audit`). A host found to
differ twice in a row, on two different reports of its own, is sent a `HostDelta` with
`resync` set on its subject: it fetches everything again and reprograms Open vSwitch from
scratch. Twice, because one report may have been made just before a change reached it.
The counts by state are a metric (`alcor_audit_hosts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import nats.aio.client
import nats.errors

from alcor import metrics
from alcor.southbound import audit
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.store.db import Database

log = logging.getLogger(__name__)


class Auditor:
    def __init__(
        self,
        db: Database,
        nc: nats.aio.client.Client,
        down_time: float,
        interval: float,
        leading: Callable[[], bool],
    ) -> None:
        self.db = db
        self.nc = nc
        self.down_time = down_time
        self.interval = interval
        self.leading = leading
        self.suspects: dict[str, float | None] = {}  # host -> the report found differing
        self.resyncs = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.leading():
                continue
            try:
                await self.round()
            except Exception:
                log.exception("state audit failed")

    async def round(self) -> list[str]:
        """Audit once; returns the hosts asked to resync."""
        found = await self.db.read(audit.audit, time.time(), self.down_time)
        counts: dict[str, int] = {}
        for a in found:
            counts[a.state] = counts.get(a.state, 0) + 1
        metrics.set_audit_counts(counts)
        asked = []
        suspects: dict[str, float | None] = {}
        for a in found:
            if a.state != audit.DIFFERS:
                continue
            before = self.suspects.get(a.host_id, -1.0)
            if before != -1.0 and before != a.reported_at:
                asked.append(a.host_id)
            else:
                suspects[a.host_id] = a.reported_at
        self.suspects = suspects
        for host_id in asked:
            log.warning("state audit: host %s differs from intent; asking it to resync", host_id)
            delta = pb.HostDelta(host_id=host_id, resync=True)
            with contextlib.suppress(nats.errors.Error):
                await self.nc.publish(subjects.host(host_id), delta.SerializeToString())
        self.resyncs += len(asked)
        return asked
