"""The benchmarks' percentiles: the median interpolated, other points by nearest rank."""

from __future__ import annotations

from benchmarks import stats


def test_points_by_nearest_rank_and_the_median_interpolated() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unordered
    assert stats.percentile(values, 0.99) == 99.0
    assert stats.percentile(values, 0.95) == 95.0
    assert stats.percentile(values, 0.5) == 50.5
    assert stats.percentile([3.0], 0.99) == 3.0
    assert stats.percentile([], 0.99) == 0.0
    assert stats.summary(values) == {"p50": 50.5, "p99": 99.0, "n": 100}
    assert stats.summary([1.234, 5.678], ("min", "max", "p50"), 1) == {
        "min": 1.2,
        "max": 5.7,
        "p50": 3.5,
    }
