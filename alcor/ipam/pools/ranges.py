"""Values, keys and ranges: the allocator's integer arithmetic, free of database code.

Why a module of its own: everything else in the package reads, locks and writes rows; this
is the pure part under all of it, property-tested alone, and `alcor.ipam.addresses` (pure
too) builds its ranges with `normalize_ranges` without pulling in any SQL. A value is an
integer of up to 128 bits (IPv6), stored as its `key`; a pool's ranges are one text column
(`RangeSet.encode`, `decode_ranges`).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Sequence

MAX_VALUE = (1 << 128) - 1


def key(value: int) -> str:
    """The stored form of a value: 32 lower-case hex digits (text order == numeric order)."""
    return format(value, "032x")


def unkey(text: str) -> int:
    return int(text, 16)


def normalize_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Validate inclusive ranges and return them sorted, with overlaps/adjacency merged."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted((int(a), int(b)) for a, b in ranges):
        if lo < 0 or hi > MAX_VALUE or lo > hi:
            raise ValueError(f"invalid range {lo}..{hi}")
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def subtract_ranges(
    a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The values of normalised ranges `a` that are not in normalised ranges `b`."""
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in a:
        cur = lo
        while j < len(b) and b[j][1] < cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi and cur <= hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return out


class RangeSet:
    """Immutable normalised ranges with the arithmetic the allocator needs."""

    __slots__ = ("his", "ranges", "size")

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        self.ranges: tuple[tuple[int, int], ...] = tuple(normalize_ranges(ranges))
        self.his = tuple(hi for _, hi in self.ranges)
        self.size = sum(hi - lo + 1 for lo, hi in self.ranges)

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_left(self.his, value)
        return i < len(self.ranges) and self.ranges[i][0] <= value

    def next_candidate(self, start: int, n: int, residue: int) -> int | None:
        """The smallest v >= start with v % n == residue inside the ranges, or None."""
        i = bisect.bisect_left(self.his, start)
        while i < len(self.ranges):
            lo, hi = self.ranges[i]
            first = max(lo, start)
            cand = first + ((residue - first) % n)
            if cand <= hi:
                return cand
            i += 1
        return None

    def encode(self) -> str:
        return ",".join(f"{key(lo)}:{key(hi)}" for lo, hi in self.ranges)


@functools.lru_cache(maxsize=4096)
def decode_ranges(text: str) -> RangeSet:
    """The inverse of `RangeSet.encode` (memoised: every transaction reads its pools' ranges)."""
    if not text:
        return RangeSet(())
    pairs = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        pairs.append((unkey(lo), unkey(hi)))
    return RangeSet(pairs)
