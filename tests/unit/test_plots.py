"""Every kept benchmark result has a chart, and drawing it makes a PNG (`benchmarks/plots`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import plots

KEPT = sorted(p for p in plots.RESULTS.glob("*.json") if plots.chart_for(p))


def test_the_known_results_are_kept() -> None:
    assert {p.stem.removesuffix("-postgresql") for p in KEPT} == set(plots.CHARTS)


@pytest.mark.parametrize("path", KEPT, ids=[p.stem for p in KEPT])
def test_a_chart_is_drawn(path: Path, tmp_path: Path) -> None:
    out = plots.render(path, tmp_path / "chart.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_results_are_refused(tmp_path: Path) -> None:
    stray = tmp_path / "nothing.json"
    stray.write_text("{}")
    with pytest.raises(ValueError, match="no chart"):
        plots.render(stray)
