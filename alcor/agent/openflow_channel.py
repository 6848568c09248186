"""A small asyncio OpenFlow 1.3 channel: packet-in and packet-out, nothing else.

Why not the os-ken app manager: it brings its own hub threads and event loop, about 40 MB
and 0.8 s of imports, and on a unix socket it needs a monkey patch (it sets TCP_NODELAY on
AF_UNIX). The agent only needs to hear DHCP packet-ins and send packet-outs; flows go through
`ovs-ofctl` bundles (neighbour flows as `ofwire` flow_mods on the mgmt socket). So this
module speaks the few OpenFlow messages involved itself, on the agent's own asyncio loop, and
uses os-ken only as a message parser/serialiser.

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
from collections.abc import Callable
from types import SimpleNamespace

from os_ken.ofproto import ofproto_parser, ofproto_v1_3, ofproto_v1_3_parser

log = logging.getLogger(__name__)

OFP = ofproto_v1_3
PARSER = ofproto_v1_3_parser
HEADER = struct.Struct("!BBHI")
# What os-ken's parser needs of a "datapath" to parse and serialise messages.
_DATAPATH = SimpleNamespace(ofproto=OFP, ofproto_parser=PARSER, id=None)

PacketIn = Callable[[int, bytes], None]  # (in_port, frame)


class OpenFlowChannel:
    """Listens on a unix socket; one switch connection at a time (the newest wins)."""

    def __init__(self, path: str, on_packet_in: PacketIn) -> None:
        self.path = path
        self.on_packet_in = on_packet_in
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
                    self._packet_in(version, msg_type, length, xid, header + body)
                elif msg_type == OFP.OFPT_ERROR:
                    log.warning("OpenFlow error from switch: %s", body[:64].hex())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self.writer is writer:
                self.writer = None
                self.connected.clear()
            writer.close()

    def _packet_in(self, version: int, msg_type: int, length: int, xid: int, buf: bytes) -> None:
        self.packet_ins += 1
        try:
            msg = ofproto_parser.msg(_DATAPATH, version, msg_type, length, xid, buf)
            self.on_packet_in(int(msg.match["in_port"]), bytes(msg.data))
        except Exception:
            log.exception("packet-in handling failed")

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
