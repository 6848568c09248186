"""The main job (`scripts/run.sh` = `alcor demo`) keeps working: its own server on the
embedded defaults, a 3-host lab, L2 across hosts, routing, a floating IP and SNAT."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from alcor.lab import demo
from tests.e2e.conftest import can_run

pytestmark = pytest.mark.ovs


def test_the_demo_passes_every_check() -> None:
    reason = can_run()
    if reason:
        pytest.skip(reason)
    out = io.StringIO()
    ok = demo.run(None, None, keep=False, console=Console(file=out, width=200))
    assert ok, out.getvalue()
    assert "FAILED" not in out.getvalue() and "cleaned up" in out.getvalue()
