"""Pure conversions between IP addresses/networks and the allocator's integer ranges.

The allocator works on plain integers (`alcor.ipam.pools`); subnets speak CIDRs, allocation
pools (`[{"start": ..., "end": ...}]`) and address strings. Keeping the conversions here, free
of database code, lets them be property-tested on their own. Only the standard `ipaddress`
module is used; its text forms are the canonical (compressed) ones, which is also what we
store as `display`, so filters compare canonical strings.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Mapping

from alcor.ipam.pools.ranges import normalize_ranges

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_to_int(ip: str | Address) -> int:
    return int(ipaddress.ip_address(ip))


def int_to_ip(value: int, version: int) -> str:
    """Canonical text of an address (e.g. "10.0.0.5", "2001:db8::5")."""
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    if version == 6:
        return str(ipaddress.IPv6Address(value))
    raise ValueError(f"IP version must be 4 or 6, not {version}")


def canonical_ip(ip: str) -> str:
    """The canonical text form of an address (raises ValueError if it is not one)."""
    return str(ipaddress.ip_address(ip.strip()))


def network_range(cidr: str | Network) -> tuple[int, int]:
    """All addresses of a network as an inclusive integer range (host bits ignored)."""
    net = ipaddress.ip_network(cidr, strict=False)
    return int(net.network_address), int(net.broadcast_address)


def in_network(ip: str, cidr: str) -> bool:
    addr = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(cidr, strict=False)
    return addr.version == net.version and addr in net


def pool_ranges(allocation_pools: Iterable[Mapping[str, str]]) -> list[tuple[int, int]]:
    """Neutron `allocation_pools` ([{"start": ip, "end": ip}]) as normalised int ranges.

    Raises ValueError for a bad address, a start after its end, or mixed IP versions.
    """
    pairs = []
    versions = set()
    for p in allocation_pools:
        start, end = ipaddress.ip_address(p["start"]), ipaddress.ip_address(p["end"])
        versions |= {start.version, end.version}
        if int(start) > int(end):
            raise ValueError(f"allocation pool start {start} is after its end {end}")
        pairs.append((int(start), int(end)))
    if len(versions) > 1:
        raise ValueError("allocation pools mix IPv4 and IPv6")
    return normalize_ranges(pairs)


def ranges_to_pools(ranges: Iterable[tuple[int, int]], version: int) -> list[dict[str, str]]:
    """Inverse of `pool_ranges`: int ranges as Neutron allocation pools."""
    return [{"start": int_to_ip(lo, version), "end": int_to_ip(hi, version)} for lo, hi in ranges]


def default_pool_ranges(cidr: str, gateway_ip: str | None) -> list[tuple[int, int]]:
    """The allocation pools Neutron gives a subnet created without any.

    All host addresses except: the first address (network address in IPv4, the subnet-router
    anycast address in IPv6), the IPv4 broadcast address, and the gateway. A /32 or /128 is a
    single usable address; an IPv4 /31 (or IPv6 /127) has no pool, as in Neutron.
    """
    net = ipaddress.ip_network(cidr, strict=False)
    first, last = int(net.network_address), int(net.broadcast_address)
    if first == last:
        return [(first, last)]
    lo = first + 1
    hi = last - 1 if net.version == 4 else last
    if lo >= hi:
        return []
    ranges = [(lo, hi)]
    if gateway_ip:
        gw = ip_to_int(gateway_ip)
        if lo <= gw <= hi:
            ranges = [r for r in ((lo, gw - 1), (gw + 1, hi)) if r[0] <= r[1]]
    return normalize_ranges(ranges)


def ranges_within(ranges: Iterable[tuple[int, int]], cidr: str) -> bool:
    """True if every range lies inside the network `cidr`."""
    lo, hi = network_range(cidr)
    return all(lo <= a and b <= hi for a, b in ranges)


def ranges_overlap(ranges: Iterable[tuple[int, int]]) -> bool:
    """True if any two of the (unsorted, unmerged) ranges share a value."""
    ordered = sorted(ranges)
    return any(b[0] <= a[1] for a, b in itertools.pairwise(ordered))
