"""OVSDB side of the agent: bridge, tunnel and physical-bridge bootstrap, and the VIF monitor.

Why ovsdbapp: one transaction creates or fixes everything the agent owns and waits until
ovs-vswitchd applied it (as `ovs-vsctl` does, bounded by a timeout so a dead vswitchd cannot
hang the agent). Why a notifying IDL instead of polling: Nova/os-vif plug a VIF by writing an
Interface row with `external_ids:iface-id`; the IDL's change notifications (delivered in the
connection thread, after each consistent update) tell us at once, including the `ofport`
that vswitchd assigns a moment later.

Ownership: ports the agent creates carry `external_ids:alcor-owner=agent`; any such port
that the current settings do not call for (say, a tunnel port of another type, or the patch
ports of a mapping since removed) is removed at bootstrap. VIF ports belong to Nova and are
never touched, nor are the physical bridges once made (they hold the operator's NICs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from ovs.db.idl import ROW_DELETE
from ovsdbapp.backend.ovs_idl import connection, idlutils
from ovsdbapp.schema.open_vswitch import impl_idl

from alcor.agent import physnets

log = logging.getLogger(__name__)

OWNER_KEY = "alcor-owner"
OWNER = "agent"
TUNNEL_OFPORT = 65000  # requested number; the real one is read back from OVSDB
PROTOCOLS = ["OpenFlow10", "OpenFlow13", "OpenFlow14"]
# Columns of br-int's Controller row (`_set_controller` says why)
CONTROLLER_SETTINGS = {"max_backoff": 1000, "controller_queue_size": 512}


class Interface(NamedTuple):
    """What the agent needs of one OVSDB Interface row."""

    uuid: str
    name: str
    iface_id: str
    ofport: int
    deleted: bool


def _snapshot(row: Any, deleted: bool) -> Interface:
    ofport = row.ofport[0] if isinstance(row.ofport, list) and row.ofport else row.ofport
    return Interface(
        uuid=str(row.uuid),
        name=str(row.name),
        iface_id=str(row.external_ids.get("iface-id", "")),
        ofport=int(ofport) if isinstance(ofport, int) else -1,
        deleted=deleted,
    )


class NotifyingIdl(connection.OvsdbIdl):  # type: ignore[misc]
    """An IDL that hands every Interface row change to `callback` (connection thread)."""

    callback: Callable[[Interface], None] | None = None
    connections = 0  # sessions (re)started with the server (metrics: reconnects)

    def restart_fsm(self) -> None:
        """Called by the IDL on every new session with the server, the first included."""
        self.connections += 1
        super().restart_fsm()

    def notify(self, event: str, row: Any, updates: Any = None) -> None:
        if self.callback is not None and row._table.name == "Interface":
            self.callback(_snapshot(row, event == ROW_DELETE))


class OvsDriver:
    """Bootstrap br-int + the flow-based tunnel port, and report VIF changes to asyncio."""

    def __init__(
        self,
        ovsdb: str,
        bridge: str,
        datapath_type: str,
        tunnel_type: str,
        tunnel_ip: str,
        bridge_mappings: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.ovsdb = ovsdb
        self.bridge = bridge
        self.datapath_type = datapath_type
        self.tunnel_type = tunnel_type
        self.tunnel_ip = tunnel_ip
        self.tunnel_name = f"{tunnel_type}-tun"
        self.bridge_mappings = bridge_mappings or {}
        self.timeout = timeout
        self.api: Any = None
        self.idl: NotifyingIdl | None = None
        self.queue: asyncio.Queue[Interface] = asyncio.Queue()

    async def connect(self) -> None:
        """Connect the IDL; Interface changes (initial rows included) go to `self.queue`."""
        loop = asyncio.get_running_loop()

        def build() -> Any:
            helper = idlutils.get_schema_helper(self.ovsdb, "Open_vSwitch")
            helper.register_all()
            idl = NotifyingIdl(self.ovsdb, helper)

            def deliver(iface: Interface) -> None:
                loop.call_soon_threadsafe(self.queue.put_nowait, iface)

            idl.callback = deliver
            self.idl = idl
            conn = connection.Connection(idl=idl, timeout=self.timeout)
            return impl_idl.OvsdbIdl(conn)

        self.api = await asyncio.to_thread(build)

    async def _execute(self, *commands: Any) -> list[Any]:
        def run() -> list[Any]:
            with self.api.transaction(check_error=True) as txn:
                for cmd in commands:
                    txn.add(cmd)
            return [cmd.result for cmd in commands]

        return await asyncio.to_thread(run)

    async def _read(self, command: Any) -> Any:
        return await asyncio.to_thread(command.execute, check_error=True)

    async def bootstrap(self, controller: str) -> int:
        """Create or fix br-int and the tunnel port; returns the tunnel's OpenFlow port."""
        api = self.api
        br = self.bridge
        await self._execute(
            api.add_br(br, may_exist=True, datapath_type=self.datapath_type),
            api.db_set(
                "Bridge",
                br,
                ("fail_mode", "secure"),
                ("protocols", PROTOCOLS),
                ("datapath_type", self.datapath_type),
            ),
            api.add_port(br, self.tunnel_name, may_exist=True),
            api.db_set(
                "Interface",
                self.tunnel_name,
                ("type", self.tunnel_type),
                (
                    "options",
                    {"remote_ip": "flow", "key": "flow", "local_ip": self.tunnel_ip},
                ),
                ("ofport_request", TUNNEL_OFPORT),
                ("external_ids", {OWNER_KEY: OWNER}),
            ),
            api.db_set("Port", self.tunnel_name, ("external_ids", {OWNER_KEY: OWNER})),
            *self._physical_bridge_commands(),
        )
        await self._remove_strays()
        await self._set_controller(controller)
        return await self._ofport(self.tunnel_name)

    def _physical_bridge_commands(self) -> list[Any]:
        """Each mapped bridge (made if missing, on br-int's datapath type: a patch port only
        joins bridges of one datapath) and the patch pair between it and br-int."""
        api = self.api
        owned = ("external_ids", {OWNER_KEY: OWNER})
        commands: list[Any] = []
        for bridge in self.bridge_mappings.values():
            int_side, phy_side = physnets.patch_ports(bridge)
            commands.append(api.add_br(bridge, may_exist=True, datapath_type=self.datapath_type))
            for on, name, peer in ((self.bridge, int_side, phy_side), (bridge, phy_side, int_side)):
                commands += [
                    api.add_port(on, name, may_exist=True),
                    api.db_set(
                        "Interface", name, ("type", "patch"), ("options", {"peer": peer}), owned
                    ),
                    api.db_set("Port", name, owned),
                ]
        return commands

    async def patch_ofports(self) -> dict[str, int]:
        """Physical network -> OpenFlow port of its patch port on br-int."""
        out = {}
        for physnet, bridge in self.bridge_mappings.items():
            name = physnets.patch_ports(bridge)[0]
            out[physnet] = await self._ofport(name)
        return out

    async def _ofport(self, name: str) -> int:
        ofport = await self._read(self.api.db_get("Interface", name, "ofport"))
        if isinstance(ofport, list):
            ofport = ofport[0] if ofport else -1
        if not isinstance(ofport, int) or ofport <= 0:
            raise RuntimeError(f"port {name} has no OpenFlow port: {ofport}")
        return ofport

    async def _remove_strays(self) -> None:
        wanted = {self.tunnel_name}
        for bridge in self.bridge_mappings.values():
            wanted.update(physnets.patch_ports(bridge))
        ports = await self._read(self.api.db_find("Port", columns=["name", "external_ids"]))
        stray = [
            p["name"]
            for p in ports
            if p["external_ids"].get(OWNER_KEY) == OWNER and p["name"] not in wanted
        ]
        for name in stray:
            log.info("removing stray port %s", name)
            # No bridge named: a stray patch port sits on a physical bridge.
            await self._execute(self.api.del_port(name, if_exists=True))

    async def _set_controller(self, target: str) -> None:
        """Point br-int at the agent's OpenFlow socket (untouched when already so)."""
        current = await self._read(self.api.get_controller(self.bridge))
        if list(current) != [target]:
            await self._execute(self.api.set_controller(self.bridge, [target]))
        # A short reconnect backoff: after an agent restart DHCP works again within a second.
        # The longest packet-in queue OVS allows (default 100): a burst of misses of an
        # on-demand network (thousands of ARPs at once) overflowed it while the agent was
        # busy, and every overflowed packet-in was a miss lost.
        rows = await self._read(self.api.db_find("Controller", ("target", "=", target)))
        for row in rows:
            for column, value in CONTROLLER_SETTINGS.items():
                if row.get(column) != value:
                    await self._execute(
                        self.api.db_set("Controller", row["_uuid"], (column, value))
                    )

    @property
    def connections(self) -> int:
        """Sessions made with the OVSDB server (all but the first are reconnects)."""
        return self.idl.connections if self.idl is not None else 0

    def stop(self) -> None:
        if self.api is not None:
            self.api.ovsdb_connection.stop()
