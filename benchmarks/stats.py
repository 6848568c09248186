"""Percentiles as every benchmark reports them: the median interpolated, any other point by
nearest rank (the smallest value with at least that share of the values at or below it), so
that a p99 of one benchmark means what it means in another."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(values: Iterable[float], q: float) -> float:
    """`q` in [0, 1]; 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    if q == 0.5:
        return statistics.median(ordered)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(
    values: Iterable[float], points: Sequence[str] = ("p50", "p99", "n"), digits: int = 3
) -> dict[str, float]:
    """The `points` of `values`, each "pNN", "min", "max" or "n" (how many)."""
    ordered = sorted(values)
    out: dict[str, float] = {}
    for point in points:
        if point == "n":
            out[point] = len(ordered)
        elif point in ("min", "max"):
            out[point] = round((ordered[0] if point == "min" else ordered[-1]), digits)
        else:
            out[point] = round(percentile(ordered, int(point[1:]) / 100), digits)
    return out
