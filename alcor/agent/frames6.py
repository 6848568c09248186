"""IPv6 frames the agent itself sends (router advertisements, DHCPv6 replies): build and parse.

Why by hand and not with the os-ken packet library the DHCPv4 server uses: its ICMPv6 classes
want typed option objects for every ND option we send (RDNSS among them is missing) and its
DHCPv6 support is partial; the frames are a few fixed headers plus TLVs, and the checksum is
the one thing to get right (checked by the guests' kernels in the e2e tests).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

ETH_IPV6 = 0x86DD
PROTO_UDP = 17
PROTO_ICMPV6 = 58
ALL_NODES = "ff02::1"
_ETH = struct.Struct("!6s6sH")
_IPV6 = struct.Struct("!IHBB16s16s")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def multicast_mac(ip: str) -> str:
    """The Ethernet address of an IPv6 multicast group (33:33 + its low 32 bits)."""
    low = ipaddress.IPv6Address(ip).packed[-4:]
    return "33:33:" + low.hex(":")


def frame(
    src_mac: str, dst_mac: str, src: str, dst: str, proto: int, payload: bytes, hop: int = 255
) -> bytes:
    """An Ethernet + IPv6 frame carrying `payload` (an ICMPv6 message or a UDP datagram whose
    checksum field is zero: it is filled in here over the pseudo-header)."""
    s = ipaddress.IPv6Address(src).packed
    d = ipaddress.IPv6Address(dst).packed
    offset = 2 if proto == PROTO_ICMPV6 else 6  # where the checksum sits in the payload
    pseudo = s + d + struct.pack("!IxxxB", len(payload), proto)
    value = checksum(pseudo + payload) or (0xFFFF if proto == PROTO_UDP else 0)
    payload = payload[:offset] + struct.pack("!H", value) + payload[offset + 2 :]
    head = _ETH.pack(_mac(dst_mac), _mac(src_mac), ETH_IPV6)
    return head + _IPV6.pack(6 << 28, len(payload), proto, hop, s, d) + payload


def udp(src_port: int, dst_port: int, data: bytes) -> bytes:
    """A UDP datagram with a zero checksum (`frame` computes it)."""
    return struct.pack("!HHHH", src_port, dst_port, 8 + len(data), 0) + data


class Packet6(NamedTuple):
    """The parts of a frame from a VM the agent answers: who sent it, and what."""

    src_mac: str
    src: str
    proto: int
    payload: bytes  # the ICMPv6 message or the UDP datagram (header included)


def parse(data: bytes) -> Packet6 | None:
    """An IPv6 frame without extension headers, else None (RS and DHCPv6 carry none)."""
    if len(data) < _ETH.size + _IPV6.size:
        return None
    _, src_mac, ethertype = _ETH.unpack_from(data)
    if ethertype != ETH_IPV6:
        return None
    _, length, proto, _, src, _ = _IPV6.unpack_from(data, _ETH.size)
    start = _ETH.size + _IPV6.size
    payload = data[start : start + length]
    if len(payload) != length:
        return None
    return Packet6(src_mac.hex(":"), str(ipaddress.IPv6Address(src)), proto, payload)


def _mac(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))
