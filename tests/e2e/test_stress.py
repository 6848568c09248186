"""The stress path, small: 200 VMs booted through the API on 4 real OVS hosts, every port
ACTIVE, every guest holding the lease of its port's address, guests on different hosts
reaching each other, `alcor audit` clean.

It runs the stress benchmark's own round (`benchmarks/dataplane_stress.py`: bulk port create
with `binding:host_id`, VIFs plugged the os-vif way, udhcpc in each guest once its port is
ACTIVE), so what guards the benchmark's path is the benchmark's code; its own server and lab
(random prefix) are removed even when it fails. No time is asserted: the figures are the
benchmark's business.
"""

from __future__ import annotations

import io
import secrets

import pytest
from rich.console import Console

from benchmarks.dataplane_stress import part_stress
from tests.e2e.conftest import can_run

pytestmark = [pytest.mark.ovs, pytest.mark.slow]


def test_two_hundred_vms_on_four_hosts_are_active_leased_reachable_and_audited() -> None:
    reason = can_run()
    if reason:
        pytest.skip(reason)
    out = io.StringIO()
    result = part_stress(
        "s" + secrets.token_hex(3), 4, 200, "bulk", "lean", Console(file=out), pings=12
    )
    assert result["vms"] == 200 and result["hosts"] == 4
    assert result["active_curve"][-1][1] == 200  # every port seen ACTIVE through the API
    assert result["cross_host_pings"] == {"pairs": 12, "ok": 12}
    assert result["audit"]["clean"], result["audit"]
    assert sorted(result["audit"]["states"]) == ["h1", "h2", "h3", "h4"]
    assert all(a["dhcp_replies"] >= 100 for a in result["agents"].values()), result["agents"]
