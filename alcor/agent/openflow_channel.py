"""A small asyncio OpenFlow 1.3 channel: packet-in and packet-out, nothing else.

Why not the os-ken app manager: it brings its own hub threads and event loop, about 40 MB
and 0.8 s of imports, and on a unix socket it needs a monkey patch (it sets TCP_NODELAY on
AF_UNIX). The agent only needs to hear packet-ins (DHCP, router solicitations, misses of
on-demand networks) and idle flow removals, and to send packet-outs; flows go through
`ovs-ofctl` bundles (neighbour flows as `ofwire` flow_mods on the mgmt socket). So this
module speaks the few OpenFlow messages involved itself, on the agent's own asyncio loop, and
uses os-ken only to serialise a plain packet-out.

The socket lives inside OVS_RUNDIR because ovs-vswitchd refuses `unix:` controller targets
elsewhere ("possibility for remote exploit"). vswitchd connects to us (the bridge's
controller target is `unix:<rundir>/<name>`); it reconnects by itself after an agent restart,
and with fail_mode=secure the flows stay in place while no controller is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import NamedTuple

from os_ken.ofproto import ofproto_v1_3, ofproto_v1_3_parser

log = logging.getLogger(__name__)

OFP = ofproto_v1_3
PARSER = ofproto_v1_3_parser
HEADER = struct.Struct("!BBHI")
# What os-ken's parser needs of a "datapath" to parse and serialise messages.
_DATAPATH = SimpleNamespace(ofproto=OFP, ofproto_parser=PARSER, id=None)

OFPT_FLOW_REMOVED = 11
OFPRR_IDLE_TIMEOUT = 0
OXM_IN_PORT = (0x8000 << 7) | 0
OXM_TUNNEL_ID = (0x8000 << 7) | 38
OXM_ETH_DST = (0x8000 << 7) | 3
OXM_ETH_SRC = (0x8000 << 7) | 4
OXM_ARP_THA = (0x8000 << 7) | 25
NXM_TUN_IPV4_DST = (0x0001 << 7) | 32
NXM_REGS = frozenset((0x0001 << 7) | n for n in range(16))
# What a re-injected packet gets back (conntrack fields, also sent along, are read-only)
RESTORED = NXM_REGS | {OXM_TUNNEL_ID}
PACKET_IN_HEAD = struct.Struct("!IHBBQ")  # buffer_id, total_len, reason, table_id, cookie
FLOW_REMOVED_HEAD = struct.Struct("!QHBB")  # cookie, priority, reason, table_id
NX_VENDOR = 0x00002320
NXAST_RESUBMIT_TABLE = 14
OFPP_IN_PORT = 0xFFF8


class PacketIn(NamedTuple):
    """A packet-in with the pipeline fields OVS sends along (tun_id, registers): enough to
    put the packet back where it left the pipeline (`reinject`)."""

    in_port: int
    frame: bytes
    table_id: int
    cookie: int
    fields: dict[int, bytes]  # OXM/NXM (class << 7 | field) -> value


def oxm_fields(match: bytes) -> dict[int, bytes]:
    """The fields of an ofp_match's OXM TLVs (masks ignored: packet-ins carry none)."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(match):
        (header,) = struct.unpack_from("!I", match, pos)
        length = header & 0xFF
        out[header >> 9] = match[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return out


def parse_packet_in(body: bytes) -> PacketIn:
    """An OpenFlow 1.3 packet-in (after its header)."""
    _, _, _, table_id, cookie = PACKET_IN_HEAD.unpack_from(body)
    start = PACKET_IN_HEAD.size
    _, match_len = struct.unpack_from("!HH", body, start)
    fields = oxm_fields(body[start + 4 : start + match_len])
    data = start + match_len + (-match_len % 8) + 2
    in_port = int.from_bytes(fields.get(OXM_IN_PORT, b"\0\0\0\0"), "big")
    return PacketIn(in_port, body[data:], table_id, cookie, fields)


Handler = Callable[[PacketIn], None]
Fields = Iterable[tuple[int, bytes]]  # (class << 7 | field, value) to write
FlowRemoved = Callable[[int, int], None]  # (cookie, table_id) of a flow that expired idle


def _set_field(key: int, value: bytes) -> bytes:
    """An OFPAT_SET_FIELD action writing `value` into field `key` (class << 7 | field)."""
    field = struct.pack("!I", (key << 9) | len(value)) + value
    length = 4 + len(field)
    return (
        struct.pack("!HH", OFP.OFPAT_SET_FIELD, length + (-length % 8))
        + field
        + (b"\0" * (-length % 8))
    )


class OpenFlowChannel:
    """Listens on a unix socket; one switch connection at a time (the newest wins)."""

    def __init__(
        self, path: str, on_packet_in: Handler, on_flow_removed: FlowRemoved | None = None
    ) -> None:
        self.path = path
        self.on_packet_in = on_packet_in
        self.on_flow_removed = on_flow_removed
        self.server: asyncio.AbstractServer | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.datapath_id: int | None = None
        self._xid = 0
        self.packet_ins = 0
        self.connections = 0  # switch connections made (metrics: all but the first reconnect)

    @property
    def target(self) -> str:
        """The bridge's controller target for this channel."""
        return f"unix:{self.path}"

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # left behind by a killed agent
        self.server = await asyncio.start_unix_server(self._serve, self.path)

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()  # the connection task then ends on EOF, not by cancellation
            await asyncio.sleep(0.05)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _next_xid(self) -> int:
        self._xid = (self._xid + 1) & 0xFFFFFFFF
        return self._xid

    def _send_raw(
        self, writer: asyncio.StreamWriter, msg_type: int, body: bytes = b"", xid: int | None = None
    ) -> None:
        xid = self._next_xid() if xid is None else xid
        writer.write(HEADER.pack(OFP.OFP_VERSION, msg_type, HEADER.size + len(body), xid) + body)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._send_raw(writer, OFP.OFPT_HELLO)
        self._send_raw(writer, OFP.OFPT_FEATURES_REQUEST)
        try:
            while True:
                header = await reader.readexactly(HEADER.size)
                version, msg_type, length, xid = HEADER.unpack(header)
                body = await reader.readexactly(length - HEADER.size)
                if msg_type == OFP.OFPT_ECHO_REQUEST:
                    self._send_raw(writer, OFP.OFPT_ECHO_REPLY, body, xid)
                elif msg_type == OFP.OFPT_FEATURES_REPLY:
                    self.datapath_id = struct.unpack_from("!Q", body)[0]
                    if self.writer is not None and self.writer is not writer:
                        self.writer.close()
                    self.writer = writer
                    self.connections += 1
                    self.connected.set()
                elif msg_type == OFP.OFPT_PACKET_IN and version == OFP.OFP_VERSION:
                    self._packet_in(body)
                elif msg_type == OFPT_FLOW_REMOVED and version == OFP.OFP_VERSION:
                    self._flow_removed(body)
                elif msg_type == OFP.OFPT_ERROR:
                    log.warning("OpenFlow error from switch: %s", body[:64].hex())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self.writer is writer:
                self.writer = None
                self.connected.clear()
            writer.close()

    def _packet_in(self, body: bytes) -> None:
        self.packet_ins += 1
        try:
            self.on_packet_in(parse_packet_in(body))
        except Exception:
            log.exception("packet-in handling failed")

    def _flow_removed(self, body: bytes) -> None:
        cookie, _, reason, table_id = FLOW_REMOVED_HEAD.unpack_from(body)
        if reason == OFPRR_IDLE_TIMEOUT and self.on_flow_removed is not None:
            try:
                self.on_flow_removed(cookie, table_id)
            except Exception:
                log.exception("flow-removed handling failed")

    def reinject(self, packet: PacketIn, table: int, sets: Fields = ()) -> bool:
        """Put a packet-in back into the pipeline at `table`, with the tunnel id and
        registers it had (as if the flow that sent it up had been there), after writing
        `sets` (what a flow would have written before going to `table`); False when no
        switch is connected."""
        resubmit = struct.pack(
            "!HHIHHB3x", 0xFFFF, 16, NX_VENDOR, NXAST_RESUBMIT_TABLE, OFPP_IN_PORT, table
        )
        return self._resend(packet, sets, resubmit)

    def forward(self, packet: PacketIn, out_port: int, sets: Fields = ()) -> bool:
        """Send a packet-in out of `out_port` after writing `sets` (a flow's set_field
        actions, e.g. the tunnel destination), with its tunnel id and registers restored;
        False when no switch is connected."""
        return self._resend(packet, sets, struct.pack("!HHIH6x", OFP.OFPAT_OUTPUT, 16, out_port, 0))

    def _resend(self, packet: PacketIn, sets: Fields, last: bytes) -> bool:
        if self.writer is None:
            return False
        actions = b"".join(
            _set_field(key, value)
            for key, value in packet.fields.items()
            if key in RESTORED and value.strip(b"\0")
        )
        actions += b"".join(_set_field(key, value) for key, value in sets) + last
        body = struct.pack("!IIH6x", OFP.OFP_NO_BUFFER, packet.in_port, len(actions))
        body += actions + packet.frame
        self._send_raw(self.writer, OFP.OFPT_PACKET_OUT, body)
        return True

    def packet_out(self, out_port: int, frame: bytes) -> bool:
        """Send `frame` out of `out_port`; False when no switch is connected."""
        if self.writer is None:
            return False
        msg = PARSER.OFPPacketOut(
            datapath=_DATAPATH,
            buffer_id=OFP.OFP_NO_BUFFER,
            in_port=OFP.OFPP_CONTROLLER,
            actions=[PARSER.OFPActionOutput(out_port, 0)],
            data=frame,
        )
        msg.set_xid(self._next_xid())
        msg.serialize()
        self.writer.write(bytes(msg.buf))
        return True
