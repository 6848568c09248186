"""Neighbour (and member-address) flows as OpenFlow 1.4 bytes, streamed as flow_mods into the
bridge's mgmt socket.

Why: the neighbour tables are the one place where the flow count scales with the cloud (two
flows per port of every network the host serves: 200k flows for a 100k-port network). Through
`ovs-ofctl`, each of those flows is formatted as text in Python and parsed again by ovs-ofctl,
which costs about as much CPU as ovs-vswitchd spends installing it, on a 2-core host. Here the
two neighbour flow shapes are precompiled per network into byte templates; a flow is its
template with the neighbour's cookie, IP and MAC (and the tunnel action of its VTEP) spliced
in, streamed while ovs-vswitchd is already installing earlier ones, and fenced by a barrier.

Why plain flow_mods and not a bundle: ovs-vswitchd installs a flow_mod as it arrives, but
stages a bundle's messages and installs them all at commit, so with a bundle the agent's
Python and ovs-vswitchd take turns instead of working side by side on the 2 cores (100k
entries: 1.6 s streamed vs 2.0-2.3 s as chained bundles). Nothing is lost by it: an entry's
change is an add (which replaces a flow with the same match in one step) plus deletes of the
keys it no longer uses, so a flow that stays never disappears, even mid-stream; a stream that
fails half-way leaves some entries done, and the caller resyncs as after any failure.

The same stream carries the member-address flows of security groups' remote groups
(`member_add` / `member_delete`) for another reason: latency, not volume. A member joining a
group is one or two flows, and the `ovs-ofctl` process alone took ~25 ms of it
(`reconciler.Reconciler.streamed` says when they may skip the bundle).
Everything else (static pipeline, ports, networks, security-group rules: a few flows each)
still goes through `ovs-ofctl` text.

The bytes encode exactly `flows.neighbor_flows()` and `security.address_flows()` (same table,
priority, cookie, match and actions; `tests/unit/test_agent_ofwire.py` checks them against
`ovs-ofctl ofp-print`), so a `replace-flows` resync sees them as unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import struct
from typing import NamedTuple

from alcor.agent import flows
from alcor.agent.flows import Flow
from alcor.agent.ofctl import OfctlError

VERSION = 0x05  # OpenFlow 1.4, as the rest of the agent speaks it
OFPT_HELLO = 0
OFPT_ERROR = 1
OFPT_ECHO_REQUEST = 2
OFPT_ECHO_REPLY = 3
OFPT_FLOW_MOD = 14
OFPT_BARRIER_REQUEST = 20
OFPT_BARRIER_REPLY = 21
OFPT_METER_MOD = 29
OFPMC_ADD = 0
OFPMF_PKTPS = 0x2
OFPMF_BURST = 0x4
OFPMBT_DROP = 1
OFPFF_SEND_FLOW_REM = 0x1
OFPFC_ADD = 0
OFPFC_DELETE = 3
OFPFC_DELETE_STRICT = 4
OFPP_ANY = 0xFFFFFFFF
OFPG_ANY = 0xFFFFFFFF
NO_BUFFER = 0xFFFFFFFF
OFPIT_GOTO_TABLE = 1
OFPIT_APPLY_ACTIONS = 4
OFPAT_OUTPUT = 0
OFPAT_SET_FIELD = 25
OFPAT_EXPERIMENTER = 0xFFFF
NX_VENDOR_ID = 0x00002320
NXAST_CONJUNCTION = 34

HEADER = struct.Struct("!BBHI")
FLOW_HEAD = struct.Struct("!BBHIQ")  # a flow_mod's header and cookie
# the flow_mod after its cookie: cookie_mask, table, command, idle, hard, priority, buffer_id,
# out_port, out_group, flags, importance
FLOW_MOD_REST = struct.Struct("!QBBHHHIIIHH")
XID_BARRIER = 0xFFFFFFF2  # the fence's xid; the caller numbers its flow_mods below it


def oxm(cls: int, field: int, length: int, hasmask: bool = False) -> int:
    """An OXM/NXM field header."""
    return (cls << 16) | (field << 9) | (int(hasmask) << 8) | length


# OXM (class 0x8000) and NXM (classes 0 and 1) field headers used by the neighbour flows.
OXM_ETH_DST = oxm(0x8000, 3, 6)
OXM_ETH_SRC = oxm(0x8000, 4, 6)
OXM_ETH_TYPE = oxm(0x8000, 5, 2)
OXM_IP_PROTO = oxm(0x8000, 10, 1)
OXM_ICMPV6_TYPE = oxm(0x8000, 29, 1)
OXM_IPV6_ND_TARGET = oxm(0x8000, 31, 16)
OXM_ARP_OP = oxm(0x8000, 21, 2)
OXM_ARP_TPA = oxm(0x8000, 23, 4)
OXM_ARP_THA = oxm(0x8000, 25, 6)
OXM_TUNNEL_ID = oxm(0x8000, 38, 8)
NXM_REG0_W = oxm(0x0001, 0, 8, hasmask=True)
NXM_REG4 = oxm(0x0001, 4, 4)
NXM_TUN_IPV4_DST = oxm(0x0001, 32, 4)
NXM_XXREG2 = oxm(0x0001, 113, 16)


def _pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def tlv(header: int, value: bytes, mask: bytes = b"") -> bytes:
    return struct.pack("!I", header) + value + mask


def ofp_match(*fields: bytes) -> bytes:
    """An OXM ofp_match holding `fields` (prerequisites first), padded to 8 bytes."""
    body = b"".join(fields)
    return _pad8(struct.pack("!HH", 1, 4 + len(body)) + body)


def set_field(header: int, value: bytes) -> bytes:
    return _pad8(struct.pack("!HHI", OFPAT_SET_FIELD, 0, header) + value)


def output(port: int) -> bytes:
    return struct.pack("!HHIH6x", OFPAT_OUTPUT, 16, port, 0)


def apply_actions(*actions: bytes) -> bytes:
    fixed = []
    for action in actions:  # set_field lengths are filled in here, after padding
        if action[:2] == b"\x00\x19":
            action = action[:2] + struct.pack("!H", len(action)) + action[4:]
        fixed.append(action)
    body = b"".join(fixed)
    return struct.pack("!HH4x", OFPIT_APPLY_ACTIONS, 8 + len(body)) + body


def goto_table(table: int) -> bytes:
    return struct.pack("!HHB3x", OFPIT_GOTO_TABLE, 8, table)


def _cut(template: bytes, *markers: bytes) -> list[bytes]:
    """The constant pieces of `template` around each marker (in order)."""
    pieces: list[bytes] = []
    rest = template
    for marker in markers:
        head, sep, rest = rest.partition(marker)
        if not sep or marker in rest:
            raise ValueError("template marker missing or repeated")
        pieces.append(head)
    pieces.append(rest)
    return pieces


# Placeholders cut out of the templates again (each occurs exactly once; checked by _cut).
_IP1 = b"\xf1\xf2\xf3\xf4"
_IP6 = bytes(range(0xD0, 0xE0))
_MAC1 = b"\xe1\xe2\xe3\xe4\xe5\xe6"


class _Template(NamedTuple):
    """A flow_mod after its header and cookie, cut around its placeholders, and its length."""

    pieces: list[bytes]
    length: int


def _templates(
    table: int,
    priority: int,
    match: bytes,
    instr: bytes,
    key: bytes,
    *more: bytes,
    idle_timeout: int = 0,
) -> tuple[_Template, _Template]:
    """The add (cut around `key` and `more`) and the delete_strict (cut around `key`, which the
    match holds) of one flow shape; with `idle_timeout`, added flows expire after that many
    idle seconds and tell the controller (`OFPFF_SEND_FLOW_REM`)."""
    add = _rest(table, priority, OFPFC_ADD, idle_timeout) + match
    delete = _rest(table, priority, OFPFC_DELETE_STRICT) + match
    return (
        _Template(_cut(add + instr, key, *more), HEADER.size + 8 + len(add) + len(instr)),
        _Template(_cut(delete, key), HEADER.size + 8 + len(delete)),
    )


class NeighborEncoder:
    """Flow_mods of one network's neighbour flows (ARP/ND answer, remote L2, routed next hop).

    `arp(xid, cookie, ip, mac)`, `l2(xid, cookie, mac, tunnel_ip)` and `routed(xid, cookie,
    ip, mac)` take the binary addresses (IPv4 4 bytes or IPv6 16, MAC 6) and return a
    complete OFPT_FLOW_MOD (`arp` of an IPv6 address is the neighbour-discovery answer);
    `*_delete` the matching `delete_strict`. On an on-demand network (`idle_timeout`), the
    remote L2 flow expires when no traffic used it for that long: the agent then forgets the
    entry (`ondemand`).
    """

    def __init__(self, vni: int, tunnel_ofport: int, idle_timeout: int = 0) -> None:
        self.vni = vni
        self.tunnel_ofport = tunnel_ofport
        vni_b = struct.pack("!Q", vni)
        arp_match = ofp_match(
            tlv(OXM_TUNNEL_ID, vni_b),
            tlv(OXM_ETH_TYPE, b"\x08\x06"),
            tlv(OXM_ARP_OP, b"\x00\x01"),
            tlv(OXM_ARP_TPA, _IP1),
        )
        arp_instr = apply_actions(set_field(OXM_ARP_THA, _MAC1)) + goto_table(flows.ARP_REPLY)
        self._arp, self._arp_del = _templates(
            flows.ARP_RESPONDER, flows.PRIO_ARP_NEIGHBOR, arp_match, arp_instr, _IP1, _MAC1
        )
        l2_match = ofp_match(
            tlv(NXM_REG0_W, b"\0\0\0\0", b"\0\0\0\1"),
            tlv(OXM_TUNNEL_ID, vni_b),
            tlv(OXM_ETH_DST, _MAC1),
        )
        # the L2 flow's instructions (its VTEP) are appended per flow, not cut from a template
        self._l2, self._l2_del = _templates(
            flows.L2_FORWARD, flows.PRIO_L2_REMOTE, l2_match, b"", _MAC1, idle_timeout=idle_timeout
        )
        self._tunnel: dict[bytes, bytes] = {}
        l3_match = ofp_match(
            tlv(OXM_TUNNEL_ID, vni_b), tlv(OXM_ETH_TYPE, b"\x08\x00"), tlv(NXM_REG4, _IP1)
        )
        l3_instr = apply_actions(set_field(OXM_ETH_DST, _MAC1)) + goto_table(flows.L2_FORWARD)
        self._l3, self._l3_del = _templates(
            flows.ROUTE_NEIGHBOR, flows.PRIO_ARP_NEIGHBOR, l3_match, l3_instr, _IP1, _MAC1
        )
        nd_match = ofp_match(
            tlv(OXM_TUNNEL_ID, vni_b),
            tlv(OXM_ETH_TYPE, b"\x86\xdd"),
            tlv(OXM_IP_PROTO, b"\x3a"),
            tlv(OXM_ICMPV6_TYPE, b"\x87"),
            tlv(OXM_IPV6_ND_TARGET, _IP6),
        )
        nd_instr = apply_actions(set_field(OXM_ETH_SRC, _MAC1)) + goto_table(flows.ND_REPLY)
        self._nd, self._nd_del = _templates(
            flows.ARP_RESPONDER, flows.PRIO_ARP_NEIGHBOR, nd_match, nd_instr, _IP6, _MAC1
        )
        l3v6_match = ofp_match(
            tlv(OXM_TUNNEL_ID, vni_b), tlv(OXM_ETH_TYPE, b"\x86\xdd"), tlv(NXM_XXREG2, _IP6)
        )
        self._l3v6, self._l3v6_del = _templates(
            flows.ROUTE_NEIGHBOR, flows.PRIO_ARP_NEIGHBOR, l3v6_match, l3_instr, _IP6, _MAC1
        )

    def arp(self, xid: int, cookie: int, ip: bytes, mac: bytes) -> bytes:
        return self._ip_mac(self._arp if len(ip) == 4 else self._nd, xid, cookie, ip, mac)

    def routed(self, xid: int, cookie: int, ip: bytes, mac: bytes) -> bytes:
        return self._ip_mac(self._l3 if len(ip) == 4 else self._l3v6, xid, cookie, ip, mac)

    @staticmethod
    def _ip_mac(template: _Template, xid: int, cookie: int, ip: bytes, mac: bytes) -> bytes:
        a0, a1, a2 = template.pieces
        head = FLOW_HEAD.pack(VERSION, OFPT_FLOW_MOD, template.length, xid, cookie)
        return b"".join((head, a0, ip, a1, mac, a2))

    def l2(self, xid: int, cookie: int, mac: bytes, tunnel_ip: bytes) -> bytes:
        instr = self._tunnel.get(tunnel_ip)
        if instr is None:
            instr = apply_actions(
                set_field(NXM_TUN_IPV4_DST, tunnel_ip), output(self.tunnel_ofport)
            )
            self._tunnel[tunnel_ip] = instr
        m0, m1 = self._l2.pieces
        n = self._l2.length + len(instr)
        head = FLOW_HEAD.pack(VERSION, OFPT_FLOW_MOD, n, xid, cookie)
        return b"".join((head, m0, mac, m1, instr))

    def arp_delete(self, xid: int, ip: bytes) -> bytes:
        return self._delete(xid, self._arp_del if len(ip) == 4 else self._nd_del, ip)

    def l2_delete(self, xid: int, mac: bytes) -> bytes:
        return self._delete(xid, self._l2_del, mac)

    def routed_delete(self, xid: int, ip: bytes) -> bytes:
        return self._delete(xid, self._l3_del if len(ip) == 4 else self._l3v6_del, ip)

    @staticmethod
    def _delete(xid: int, template: _Template, value: bytes) -> bytes:
        head = FLOW_HEAD.pack(VERSION, OFPT_FLOW_MOD, template.length, xid, 0)
        return b"".join((head, template.pieces[0], value, template.pieces[1]))

    def delete_all(self, xid: int, table: int) -> bytes:
        """Non-strict delete of every neighbour-owned flow (cookie kind) of this VNI in `table`."""
        match = ofp_match(tlv(OXM_TUNNEL_ID, struct.pack("!Q", self.vni)))
        body = (
            FLOW_MOD_REST.pack(
                0xFF << 56, table, OFPFC_DELETE, 0, 0, 0, NO_BUFFER, OFPP_ANY, OFPG_ANY, 0, 0
            )
            + match
        )
        n = HEADER.size + 8 + len(body)
        head = FLOW_HEAD.pack(VERSION, OFPT_FLOW_MOD, n, xid, flows.KIND_NEIGHBOR << 56)
        return head + body


def _rest(table: int, priority: int, command: int, idle_timeout: int = 0) -> bytes:
    flags = OFPFF_SEND_FLOW_REM if idle_timeout else 0
    return FLOW_MOD_REST.pack(
        0, table, command, idle_timeout, 0, priority, NO_BUFFER, OFPP_ANY, OFPG_ANY, flags, 0
    )


def meter_add(xid: int, meter_id: int, rate_pps: int) -> bytes:
    """A meter dropping packets above `rate_pps` (burst as large): the rate limit of one VIF's
    misses on an on-demand network (`flows.miss_flows`)."""
    body = struct.pack(
        "!HHI HHIII",
        OFPMC_ADD,
        OFPMF_PKTPS | OFPMF_BURST,
        meter_id,
        OFPMBT_DROP,
        16,
        rate_pps,
        rate_pps,
        0,
    )
    return HEADER.pack(VERSION, OFPT_METER_MOD, HEADER.size + len(body), xid) + body


# -- security-group member-address flows (`security.address_flows`) ----------------------------
# ethertype, then the OXM field number per address keyword (ipv4/ipv6 src/dst)
_ADDRESS_FIELDS = {
    "ip": (b"\x08\x00", {"nw_src": 11, "nw_dst": 12}),
    "ipv6": (b"\x86\xdd", {"ipv6_src": 26, "ipv6_dst": 27}),
}
_CONJUNCTION = r"conjunction\((\d+),(\d+)/(\d+)\)"
_CONJUNCTIONS = re.compile(rf"{_CONJUNCTION}(?:,{_CONJUNCTION})*")


def _address_match(match: str) -> bytes:
    """`ip,nw_src=A` / `ipv6,ipv6_dst=A` (A a host address or a CIDR) as an ofp_match."""
    l3, _, rest = match.partition(",")
    name, _, addr = rest.partition("=")
    family = _ADDRESS_FIELDS.get(l3)
    field_no = family[1].get(name) if family else None
    if family is None or field_no is None:
        raise ValueError(f"not a member-address match: {match!r}")
    net = ipaddress.ip_network(addr)  # strict: the text names a network address exactly
    if (net.version == 4) != (l3 == "ip"):
        raise ValueError(f"address family mismatch in {match!r}")
    value = net.network_address.packed
    if net.prefixlen == net.max_prefixlen:
        field = tlv(oxm(0x8000, field_no, len(value)), value)
    else:
        field = tlv(oxm(0x8000, field_no, 2 * len(value), True), value, net.netmask.packed)
    return ofp_match(tlv(OXM_ETH_TYPE, family[0]), field)


def conjunction(conj_id: int, clause: int, n_clauses: int) -> bytes:
    """Nicira's conjunction action; `clause` is 1-based as in the text (0-based on the wire)."""
    if not 1 <= clause <= n_clauses <= 64:
        raise ValueError(f"bad conjunction clause {clause}/{n_clauses}")
    return struct.pack(
        "!HHIHBBI",
        OFPAT_EXPERIMENTER,
        16,
        NX_VENDOR_ID,
        NXAST_CONJUNCTION,
        clause - 1,
        n_clauses,
        conj_id,
    )


def member_add(xid: int, cookie: int, flow: Flow) -> bytes:
    """The flow_mod adding one member-address flow (`security.address_flows`: an address
    match, conjunction actions only); ValueError for any other shape of flow.

    These flows change one or two per member joining or leaving a remote group, so they are
    parsed from their `Flow` text here rather than precompiled like the neighbour templates:
    the text stays the one description that `replace-flows` and these bytes both encode.
    """
    if not _CONJUNCTIONS.fullmatch(flow.actions):
        raise ValueError(f"not conjunction actions: {flow.actions!r}")
    actions = [
        conjunction(int(cid), int(k), int(n))
        for cid, k, n in re.findall(_CONJUNCTION, flow.actions)
    ]
    body = (
        _rest(flow.table, flow.priority, OFPFC_ADD)
        + _address_match(flow.match)
        + apply_actions(*actions)
    )
    return FLOW_HEAD.pack(VERSION, OFPT_FLOW_MOD, HEADER.size + 8 + len(body), xid, cookie) + body


def member_delete(xid: int, key: tuple[int, int, str]) -> bytes:
    """The `delete_strict` flow_mod of a member-address flow's (table, priority, match)."""
    table, priority, match = key
    body = _rest(table, priority, OFPFC_DELETE_STRICT) + _address_match(match)
    return FLOW_HEAD.pack(VERSION, OFPT_FLOW_MOD, HEADER.size + 8 + len(body), xid, 0) + body


class FlowStreamError(OfctlError):
    """ovs-vswitchd rejected a flow_mod, or the connection broke; the caller resyncs."""


class FlowStream:
    """Flow_mods streamed on a connection to `unix:<path>` (the bridge's mgmt socket).

    Messages are written as they are produced (`await add(batch)`), so ovs-vswitchd installs
    them while the caller builds the next batch; they apply in order. `fence()` sends a
    barrier and waits for its reply: every earlier flow_mod is then installed, or its error
    has arrived (errors precede the barrier reply) and `FlowStreamError` is raised. A stream
    may serve many fences while it is `alive`; after an error it is closed and replaced.
    """

    def __init__(self, path: str, timeout: float = 120.0) -> None:
        self.path = path
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._errors: list[str] = []
        self._replies: asyncio.Queue[tuple[int, int, bytes]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FlowStream:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def alive(self) -> bool:
        """Connected, and nothing went wrong on it so far (else a new one is needed)."""
        return self._task is not None and not self._task.done() and not self._errors

    async def open(self) -> None:
        """Connect and say hello (replies are read by a background task)."""
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(self.path)
        except OSError as exc:
            raise FlowStreamError(f"cannot connect to {self.path}: {exc}") from exc
        self._writer.write(HEADER.pack(VERSION, OFPT_HELLO, HEADER.size, 0))
        self._task = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()

    async def _read(self) -> None:
        assert self._reader is not None and self._writer is not None
        try:
            while True:
                head = await self._reader.readexactly(HEADER.size)
                _, msg_type, length, xid = HEADER.unpack(head)
                body = await self._reader.readexactly(length - HEADER.size)
                if msg_type == OFPT_ECHO_REQUEST:
                    self._writer.write(HEADER.pack(VERSION, OFPT_ECHO_REPLY, length, xid) + body)
                elif msg_type == OFPT_ERROR:
                    err_type, code = struct.unpack_from("!HH", body)
                    self._errors.append(f"xid {xid}: error type {err_type} code {code}")
                elif msg_type != OFPT_HELLO:
                    await self._replies.put((msg_type, xid, body))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self._errors.append(f"connection lost: {exc}")
            await self._replies.put((-1, 0, b""))

    async def add(self, messages: list[bytes]) -> None:
        """Write flow_mods (from the encoder) and let the socket drain."""
        assert self._writer is not None
        self._writer.writelines(messages)
        try:
            await self._writer.drain()
        except ConnectionError as exc:
            raise FlowStreamError(f"connection lost: {exc}; {self._errors[:5]}") from exc

    async def fence(self) -> None:
        """Return once ovs-vswitchd has processed everything sent so far."""
        assert self._writer is not None
        async with asyncio.timeout(self.timeout):
            self._writer.write(HEADER.pack(VERSION, OFPT_BARRIER_REQUEST, HEADER.size, XID_BARRIER))
            while True:
                msg_type, xid, _ = await self._replies.get()
                if msg_type == -1 or (msg_type == OFPT_BARRIER_REPLY and xid == XID_BARRIER):
                    break
        if self._errors:
            raise FlowStreamError("; ".join(self._errors[:5]))
