"""Prefix arithmetic of subnet pools: compacting prefix lists, the free space left by the
subnets carved so far, and where a new subnet goes.

Pure functions over `ipaddress` networks, apart from the pools' storage and locking (the
subnet rules hold the pool's row lock around them). Placement follows Neutron's
`SubnetAllocator`, so a pool hands out the same CIDRs as Neutron's would: the free space as
maximal blocks, smallest blocks first (then by address), and a request of /N takes the first
/N of the first block that is at least that large, which keeps large blocks whole.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Net = Any  # an ipaddress.IPv4Network or IPv6Network (mixed freely below, by version)

# Neutron's SubnetPoolHelper: default minimum prefix length and the quota unit's width (a
# pool's default_quota counts IPv4 addresses and IPv6 /64s).
DEFAULT_MIN_PREFIXLEN = {4: 8, 6: 64}
QUOTA_UNIT = {4: 32, 6: 64}
MAX_PREFIXLEN = {4: 32, 6: 128}


def networks(cidrs: Iterable[str]) -> list[Net]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _within(inner: Net, outer: Net) -> bool:
    return bool(inner.version == outer.version and inner.subnet_of(outer))


def _meet(a: Net, b: Net) -> bool:
    return bool(a.version == b.version and a.overlaps(b))


def compact(cidrs: Iterable[str]) -> list[str]:
    """The smallest list of CIDRs covering exactly the same addresses (IPv4, then IPv6)."""
    nets = networks(cidrs)
    out: list[Net] = []
    for version in (4, 6):
        out.extend(ipaddress.collapse_addresses(n for n in nets if n.version == version))
    return [str(n) for n in out]


def covers(outer: Iterable[str], inner: Iterable[str]) -> bool:
    """Whether every address of `inner` lies in `outer`."""
    blocks = networks(compact(outer))
    return all(any(_within(n, b) for b in blocks) for n in networks(inner))


def overlaps(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether the two CIDR lists share an address."""
    right = networks(b)
    return any(_meet(x, y) for x in networks(a) for y in right)


def free_blocks(prefixes: Iterable[str], used: Iterable[str]) -> list[Net]:
    """The pool's prefixes less the used CIDRs, as maximal blocks, smallest first."""
    blocks = networks(compact(prefixes))
    for taken in networks(used):
        kept: list[Net] = []
        for block in blocks:
            if not _meet(block, taken):
                kept.append(block)
            elif _within(taken, block) and taken != block:
                kept.extend(block.address_exclude(taken))
        blocks = networks(compact(str(b) for b in kept))
    return sorted(blocks, key=lambda b: -b.prefixlen)


def place(free: list[Net], prefixlen: int) -> Net | None:
    """Where a subnet of `prefixlen` goes in the free blocks (None: no room)."""
    for block in free:
        if prefixlen >= block.prefixlen:
            return next(block.subnets(new_prefix=prefixlen))
    return None


def fits(free: list[Net], cidr: str) -> bool:
    """Whether the explicit CIDR lies wholly in one free block."""
    net = ipaddress.ip_network(cidr)
    return any(_within(net, b) for b in free)


def quota_units(prefixlen: int, version: int) -> int:
    """How much of a pool's `default_quota` one subnet of `prefixlen` takes."""
    return int(2 ** max(QUOTA_UNIT[version] - prefixlen, 0))
