"""A light DHCP client for many lab guests at once: one thread, no process per guest.

Why: the stress case boots 2,400 guests on 2 cores. `udhcpc` costs four processes per guest
(nsenter, busybox, its hook's shell, `ip`): 2,400 of them took about 7 s of CPU and, paced
128 at a time, about 5 s of wall clock after the last port turned ACTIVE. Here each guest is
a raw socket on its `eth0` and a netlink socket, both opened inside its namespace before the
clock (`GuestSockets.open`); the exchange is the real one (DISCOVER, OFFER, REQUEST, ACK,
broadcast from 0.0.0.0 over the VIF and the agent's answers back), retried as `udhcpc -t 8
-T 1` would, and the lease is applied as the lab's hook does: MTU, address, routes (option 121
when sent, else the router of option 3).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import secrets
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
ETH_P_IP = 0x0800
BROADCAST_MAC = b"\xff" * 6
MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, ACK, NAK = 1, 2, 3, 5, 6
PARAMS = bytes([1, 3, 6, 15, 26, 28, 51, 54, 121])  # as udhcpc -O mtu -O staticroutes ...
# netlink (linux/netlink.h, rtnetlink.h, if_addr.h)
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 20, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
NLMSG_ERROR = 2
IFF_UP, IFLA_ADDRESS = 0x1, 1
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
IFLA_MTU, IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 4, 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def request_frame(mac: bytes, xid: int, kind: int, offer: Offer | None = None) -> bytes:
    """A broadcast DISCOVER, or the REQUEST of `offer`, as an Ethernet frame."""
    opts = bytes([53, 1, kind, 61, 7, 1]) + mac + bytes([55, len(PARAMS)]) + PARAMS
    if offer is not None:
        opts += bytes([50, 4]) + socket.inet_aton(offer.ip)
        opts += bytes([54, 4]) + socket.inet_aton(offer.server)
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s192x", 1, 1, 6, 0, xid, 0, 0x8000, *[b"\0" * 4] * 4,
                        mac)  # fmt: skip
    payload = bootp + MAGIC + opts + b"\xff"
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\0" * 4, b"\xff" * 4
    )
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return BROADCAST_MAC + mac + struct.pack("!H", ETH_P_IP) + ip + udp


@dataclass
class Offer:
    """What a server's OFFER or ACK said (the options the lease needs, decoded)."""

    kind: int
    ip: str
    server: str
    options: dict[int, bytes]

    @property
    def prefixlen(self) -> int:
        mask = self.options.get(1, b"\xff\xff\xff\x00")
        return ipaddress.IPv4Network(f"0.0.0.0/{socket.inet_ntoa(mask)}").prefixlen

    @property
    def mtu(self) -> int:
        raw = self.options.get(26)
        return struct.unpack("!H", raw)[0] if raw else 1500

    def routes(self) -> list[tuple[str, int, str]]:
        """(destination, prefix length, gateway): option 121 when present (RFC 3442), else
        the first router of option 3 as the default route."""
        raw = self.options.get(121)
        if raw is None:
            router = self.options.get(3)
            return [("0.0.0.0", 0, socket.inet_ntoa(router[:4]))] if router else []
        out, i = [], 0
        while i < len(raw):
            width = raw[i]
            octets = (width + 7) // 8
            dest = raw[i + 1 : i + 1 + octets] + b"\0" * (4 - octets)
            gw = raw[i + 1 + octets : i + 5 + octets]
            out.append((socket.inet_ntoa(dest), width, socket.inet_ntoa(gw)))
            i += 5 + octets
        return out


def parse_reply(frame: bytes, xid: int) -> Offer | None:
    """The DHCP reply in an Ethernet frame for transaction `xid`, or None (anything else)."""
    if len(frame) < 14 + 20 + 8 + 240 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 0x0F) * 4
    udp = 14 + ihl
    if struct.unpack("!H", frame[udp + 2 : udp + 4])[0] != 68:
        return None
    bootp = frame[udp + 8 :]
    if bootp[0] != 2 or struct.unpack("!I", bootp[4:8])[0] != xid or bootp[236:240] != MAGIC:
        return None
    options: dict[int, bytes] = {}
    i = 240
    while i < len(bootp) and bootp[i] != 255:
        if bootp[i] == 0:
            i += 1
            continue
        options[bootp[i]] = bootp[i + 2 : i + 2 + bootp[i + 1]]
        i += 2 + bootp[i + 1]
    kind = options.get(53, b"\0")[0]
    server = socket.inet_ntoa(options.get(54, bootp[20:24]))
    return Offer(kind, socket.inet_ntoa(bootp[16:20]), server, options)


def _nlmsg(
    kind: int, flags: int, seq: int, body: bytes, attrs: Iterable[tuple[int, bytes]]
) -> bytes:
    payload = body
    for tag, value in attrs:
        attr = struct.pack("HH", 4 + len(value), tag) + value
        payload += attr + b"\0" * (-len(attr) % 4)
    return (
        struct.pack("IHHII", 16 + len(payload), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0)
        + payload
    )


def _request(nl: socket.socket, msgs: Iterable[bytes]) -> None:
    """Send rtnetlink requests one by one, each acknowledged; raise on a refusal."""
    for msg in msgs:
        nl.send(msg)
        reply = nl.recv(65536)
        _, kind, _, seq, _, err = struct.unpack("IHHIIi", reply[:20])
        if kind == NLMSG_ERROR and err != 0:
            raise OSError(-err, f"rtnetlink request {seq}: {os.strerror(-err)}")


def lease_messages(ifindex: int, lease: Offer) -> list[bytes]:
    """The rtnetlink requests applying `lease` to the interface: MTU, address, routes."""
    ip = socket.inet_aton(lease.ip)
    bcast = ipaddress.IPv4Network(f"{lease.ip}/{lease.prefixlen}", strict=False).broadcast_address
    msgs = [
        _nlmsg(RTM_NEWLINK, 0, 1, struct.pack("BxHiII", 0, 0, ifindex, 0, 0),
               [(IFLA_MTU, struct.pack("I", lease.mtu))]),
        _nlmsg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, 2,
               struct.pack("BBBBI", socket.AF_INET, lease.prefixlen, 0, 0, ifindex),
               [(IFA_LOCAL, ip), (IFA_ADDRESS, ip), (IFA_BROADCAST, bcast.packed)]),
    ]  # fmt: skip
    for seq, (dest, width, gw) in enumerate(lease.routes(), start=3):
        rtmsg = struct.pack("BBBBBBBBI", socket.AF_INET, width, 0, 0, 254, 3, 0, 1, 0)
        attrs = [(RTA_GATEWAY, socket.inet_aton(gw)), (RTA_OIF, struct.pack("i", ifindex))]
        if width:
            attrs.insert(0, (RTA_DST, socket.inet_aton(dest)))
        msgs.append(_nlmsg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq, rtmsg, attrs))
    return msgs


@dataclass
class GuestSockets:
    """A guest's raw socket on its interface and its rtnetlink socket (both in its netns)."""

    packet: socket.socket
    netlink: socket.socket
    ifindex: int
    mac: bytes

    @classmethod
    def open(cls, guests: Iterable[tuple[str, str]], iface: str = "eth0") -> list[GuestSockets]:
        """Set up each guest of `guests` ((netns path, MAC), in order) as the lab's guest
        configuration would (IPv6 off, `lo` up, the interface with its MAC, up, without
        checksum offload) and open its sockets. A thread enters each namespace in turn
        (`setns` moves only the calling thread: this process's own namespace never changes),
        and does in a few system calls what took five processes per guest."""
        out: list[GuestSockets] = []
        failed: list[BaseException] = []

        def run() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                for path, mac in guests:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        if libc.setns(fd, CLONE_NEWNET) != 0:
                            raise OSError(ctypes.get_errno(), f"setns {path}")
                    finally:
                        os.close(fd)
                    out.append(cls._set_up(iface, bytes.fromhex(mac.replace(":", ""))))
            except BaseException as exc:  # handed to the caller's thread
                failed.append(exc)
            finally:
                libc.setns(home, CLONE_NEWNET)
                os.close(home)

        thread = threading.Thread(target=run, name="guest-sockets")
        thread.start()
        thread.join()
        if failed:
            for g in out:
                g.close()
            raise failed[0]
        return out

    @classmethod
    def _set_up(cls, iface: str, mac: bytes) -> GuestSockets:
        """In the guest's namespace (the calling thread's): configure it, open its sockets."""
        for conf in ("all", "default"):  # /proc/sys/net is the opener's namespace
            with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as fh:
                fh.write("1")
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        index = socket.if_nametoindex(iface)
        up = struct.pack("BxHiII", 0, 0, socket.if_nametoindex("lo"), IFF_UP, IFF_UP)
        own = struct.pack("BxHiII", 0, 0, index, IFF_UP, IFF_UP)
        _request(nl, [_nlmsg(RTM_NEWLINK, 0, 1, up, []),
                      _nlmsg(RTM_NEWLINK, 0, 2, own, [(IFLA_ADDRESS, mac)])])  # fmt: skip
        pkt = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        pkt.bind((iface, ETH_P_IP))
        value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
        ifreq = struct.pack("16sP", iface.encode(), ctypes.addressof(value))
        fcntl.ioctl(pkt, SIOCETHTOOL, ifreq)  # checksums in software: OVS does not fill them
        return cls(pkt, nl, index, mac)

    def apply(self, lease: Offer) -> None:
        """Configure the lease (blocking netlink round trips: a few microseconds each)."""
        _request(self.netlink, lease_messages(self.ifindex, lease))

    def close(self) -> None:
        self.packet.close()
        self.netlink.close()


@dataclass
class _Exchange:
    guest: GuestSockets
    done: Callable[[Offer], None]
    xid: int = field(default_factory=lambda: secrets.randbits(32))
    offer: Offer | None = None
    tries: int = 0
    due: float = 0.0


class DhcpClients:
    """Runs many guests' exchanges on one thread; `start` guests as their ports turn ACTIVE,
    `wait` for all. At most `in_flight` exchanges at once (a burst of thousands of
    DISCOVERs would overrun the agents' packet-in queues and cost each loser a 1 s retry)."""

    def __init__(self, in_flight: int = 256, tries: int = 8, interval: float = 1.0) -> None:
        self.in_flight, self.tries, self.interval = in_flight, tries, interval
        self.sel = selectors.DefaultSelector()
        self.queue: list[_Exchange] = []
        self.active: dict[int, _Exchange] = {}  # by packet socket fd
        self.failed: list[str] = []
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = os.pipe()
        self.sel.register(self.wake_r, selectors.EVENT_READ)
        self.pending = 0
        self.idle = threading.Condition(self.lock)
        self.appliers = ThreadPoolExecutor(4, thread_name_prefix="dhcp-apply")
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="dhcp-clients", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop the client thread (exchanges still running are abandoned)."""
        self.stopping = True
        os.write(self.wake_w, b"\0")
        self.thread.join()
        self.appliers.shutdown()
        self.sel.close()
        os.close(self.wake_r)
        os.close(self.wake_w)

    def start(self, guest: GuestSockets, done: Callable[[Offer], None]) -> None:
        """Begin one guest's exchange; `done(ack)` runs on the appliers once applied."""
        with self.lock:
            self.queue.append(_Exchange(guest, done))
            self.pending += 1
        os.write(self.wake_w, b"\0")

    def wait(self, timeout: float) -> None:
        """Until every started exchange is over; raises if one got no lease."""
        with self.idle:
            if not self.idle.wait_for(lambda: self.pending == 0, timeout):
                raise TimeoutError(f"{self.pending} guests without a lease after {timeout} s")
        if self.failed:
            raise RuntimeError(f"no lease: {self.failed[:5]}")

    def _send(self, ex: _Exchange) -> None:
        kind = DISCOVER if ex.offer is None else REQUEST
        ex.guest.packet.send(request_frame(ex.guest.mac, ex.xid, kind, ex.offer))
        ex.tries += 1
        ex.due = time.monotonic() + self.interval

    def _finish(self, ex: _Exchange, ack: Offer | None) -> None:
        """The exchange is over: the lease is applied on the pool (`apply` waits for the
        kernel's rtnl lock, which a host's namespace teardown can hold for seconds, and the
        other exchanges must not wait behind it)."""
        del self.active[ex.guest.packet.fileno()]
        self.sel.unregister(ex.guest.packet)
        self.appliers.submit(self._apply, ex, ack)

    def _apply(self, ex: _Exchange, ack: Offer | None) -> None:
        try:
            if ack is None:
                raise TimeoutError(f"no answer after {ex.tries} tries")
            ex.guest.apply(ack)
            ex.done(ack)
        except Exception as exc:  # recorded, raised by `wait`
            self.failed.append(f"{ex.guest.mac.hex(':')}: {exc}")
        with self.idle:
            self.pending -= 1
            self.idle.notify_all()

    def _receive(self, ex: _Exchange) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                reply = parse_reply(ex.guest.packet.recv(2048, socket.MSG_DONTWAIT), ex.xid)
                if reply is None:
                    continue
                if reply.kind == OFFER and ex.offer is None:
                    ex.offer, ex.tries = reply, 0
                    self._send(ex)
                elif reply.kind == ACK and ex.offer is not None:
                    self._finish(ex, reply)
                    return
                elif reply.kind == NAK:
                    ex.offer = None
                    self._send(ex)

    def _run(self) -> None:
        while not self.stopping:
            now = time.monotonic()
            timeout = min((ex.due for ex in self.active.values()), default=now + 1) - now
            for key, _ in self.sel.select(max(0.0, timeout)):
                if key.fd == self.wake_r:
                    os.read(self.wake_r, 4096)
                elif (ex := self.active.get(key.fd)) is not None:
                    self._receive(ex)
            with self.lock:
                room = self.in_flight - len(self.active)
                starting, self.queue = self.queue[:room], self.queue[room:]
            for ex in starting:
                self.active[ex.guest.packet.fileno()] = ex
                self.sel.register(ex.guest.packet, selectors.EVENT_READ)
                self._send(ex)
            now = time.monotonic()
            for ex in [e for e in self.active.values() if e.due <= now]:
                if ex.tries >= self.tries:
                    self._finish(ex, None)
                else:
                    self._send(ex)
