"""The southbound service: what `alcor server` starts and stops in its lifespan.

It owns the embedded nats-server (when no `nats_url` is configured), one NATS connection
that reconnects forever, the compiler loop (woken by local commits, polling for commits made
by other server processes), the RPC handlers and the status intake with its liveness sweep.
The embedded nats-server is `secure` (per-host nkeys, `nats_auth`); the service connects
with the servers' credentials it creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any

import nats
import nats.aio.client

from alcor.config import ServerSettings, nats_servers
from alcor.southbound import ondemand
from alcor.southbound.auditor import Auditor
from alcor.southbound.compiler import Compiler
from alcor.southbound.nats_server import NatsServer
from alcor.southbound.nova import NovaNotifier
from alcor.southbound.portstatus import nova_notified
from alcor.southbound.protocol.auth import NatsAuth
from alcor.southbound.rpc import RpcServer
from alcor.southbound.status import StatusIntake
from alcor.store.db import Database

log = logging.getLogger(__name__)


class Southbound:
    """`await start()` after the database is ready, `await stop()` on shutdown."""

    def __init__(
        self,
        db: Database,
        settings: ServerSettings,
        *,
        lease_ttl: float = 5.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.db = db
        self.settings = settings
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.nats_server: NatsServer | None = None
        self.nc: nats.aio.client.Client | None = None
        self.compiler: Compiler | None = None
        self.rpc: RpcServer | None = None
        self.intake: StatusIntake | None = None
        self.auditor: Auditor | None = None
        self.nova: NovaNotifier | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._compiler_task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def nats_url(self) -> str:
        if self.settings.nats_url:
            return self.settings.nats_url
        return f"nats://127.0.0.1:{self.settings.nats_port}"

    async def start(self) -> None:
        conf = self.settings
        ondemand.configure(conf.neighbor_on_demand_threshold)
        auth = NatsAuth(conf.nats_credentials, conf.nats_tls_ca)
        if not conf.nats_url:
            self.nats_server = NatsServer(
                conf.nats_port,
                Path(conf.state_dir) / "nats",
                secure=True,
                tls_cert=conf.nats_tls_cert,
                tls_key=conf.nats_tls_key,
            )
            await self.nats_server.astart()
            self._tasks.append(asyncio.create_task(self.nats_server.supervise()))
            auth = dataclasses.replace(auth, credentials=self.nats_server.credentials)
        self.nc = await nats.connect(
            nats_servers(self.nats_url),
            name="alcor-server",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            allow_reconnect=True,
            pending_size=64 * 1024 * 1024,
            **auth.options(),
        )
        self.compiler = Compiler(
            self.db, self.nc, lease_ttl=self.lease_ttl, poll_interval=self.poll_interval
        )
        self.db.on_commit(self._on_commit)
        self.rpc = RpcServer(
            self.db,
            self.nc,
            self.settings.agent_down_time,
            self.settings.direct_resolve_address(),
        )
        await self.rpc.start()
        self.intake = StatusIntake(
            self.db, self.nc, self.settings.agent_down_time, touch=self.rpc.touch
        )
        await self.intake.start()
        self._compiler_task = asyncio.create_task(self.compiler.run())
        self._tasks.append(self._compiler_task)
        if self.settings.audit_interval > 0:
            compiler = self.compiler
            self.auditor = Auditor(
                self.db,
                self.nc,
                self.settings.agent_down_time,
                self.settings.audit_interval,
                leading=compiler.lease.held,
            )
            self._tasks.append(asyncio.create_task(self.auditor.run()))
        if self.settings.nova_url:
            self.nova = NovaNotifier(
                self.settings.nova_url,
                self.settings.nova_token,
                self.settings.nova_send_interval,
                on_sent=self._nova_sent,
            )
            self.db.on_event(self._on_events)
            self.nova.start()
        self._running = True

    def _on_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        if self._running and self.nova is not None:
            self.nova.on_events(events)

    async def _nova_sent(self, events: list[dict[str, str]], at: float) -> None:
        await self.db.write(nova_notified, events, at)

    def _on_commit(self) -> None:
        # Database.on_commit has no unregister; a stopped service simply ignores commits.
        if self._running and self.compiler is not None:
            self.compiler.wake()

    async def stop(self) -> None:
        """Stop everything started by `start`; calling it again does nothing."""
        self._running = False
        if self.nova is not None:
            await self.nova.stop()
            self.nova = None
        if self.intake is not None:
            await self.intake.stop()
        if self.rpc is not None:
            await self.rpc.stop()
        if self.compiler is not None and self._compiler_task is not None:
            with contextlib.suppress(Exception):
                await self.compiler.stop(self._compiler_task)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._compiler_task = None
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.nats_server is not None:
            await asyncio.to_thread(self.nats_server.stop)
        self.intake = self.rpc = self.compiler = self.nc = self.nats_server = None
