"""`alcor hosts import`: bulk pre-registration from an inventory file, through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from alcor.lab.server_process import AlcorServer


def test_import_csv_and_refuse_bad_files(
    server: AlcorServer, http: httpx.Client, tmp_path: Path
) -> None:
    inventory = tmp_path / "hosts.csv"
    lines = ["host,tunnel_ip,availability_zone"]
    lines += [f"inv-{i:04d},198.18.{i // 250}.{i % 250 + 1},az{i % 2}" for i in range(2500)]
    inventory.write_text("\n".join(lines) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "alcor",
        "hosts",
        "import",
        str(inventory),
        "--url",
        server.url,
        "--chunk",
        "1000",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    agents, url = [], "/v2.0/agents?limit=1000"
    while url:
        page = http.get(url).json()
        agents += page["agents"]
        url = next((x["href"] for x in page.get("agents_links", []) if x["rel"] == "next"), "")
    mine = [a for a in agents if a["host"].startswith("inv-")]
    assert len(mine) == 2500 and not any(a["alive"] for a in mine)
    assert {a["availability_zone"] for a in mine} == {"az0", "az1"}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "refused (409)" in again.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('[{"hostname": "x"}]')
    refused = subprocess.run(
        [*cmd[:5], str(bad), "--url", server.url], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "has no 'host'" in refused.stderr
