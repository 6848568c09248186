"""What a NATS request costs on this machine, warm and after the CPUs went idle (not in CI).

Why: a first packet to an on-demand neighbour (`benchmarks/dataplane_ondemand.py`) crosses
about nine processes (OVS, the agent, nats-server, the server and back, OVS on two hosts, the
VM), each woken from idle, and its trace shows no step of ours longer than 0.3 ms. This
measures the same request/reply hop alone, between two Python processes through a bundled
nats-server (the responder on uvloop, as `alcor server`; the requester on asyncio, as the
agent): back to back, and after the requester slept `--idle` seconds, so the difference is
what waking the three processes costs here, not anything in Alcor's code. Then the same with
the requester polling for its reply instead of sleeping (`alcor.agent.busypoll`, as the agent
awaits a resolve answer). `--busy-cpu` keeps one CPU busy meanwhile: the other processes are
then woken on a CPU that did not halt.

Results: benchmarks/results/nats-idle.json (`--plot`: nats-idle.png).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alcor.agent.busypoll import BusyPollSelector  # noqa: E402
from alcor.southbound.nats_server import running  # noqa: E402
from benchmarks import plots  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "nats-idle.json"
SUBJECT = "bench.rtt"
RESPONDER = """
import asyncio, sys, nats, uvloop
async def main():
    nc = await nats.connect(sys.argv[1])
    async def answer(msg):
        await msg.respond(b"x" * 120)  # about a resolve reply of one neighbour
    await nc.subscribe(sys.argv[2], "q", cb=answer)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""


async def _measure(
    url: str, idles: list[float], count: int, poller: BusyPollSelector | None
) -> dict[str, dict[str, float]]:
    nc = await nats.connect(url)
    out: dict[str, dict[str, float]] = {}
    try:
        for idle in idles:
            times = []
            for _ in range(count):
                await asyncio.sleep(idle)
                started = time.perf_counter()
                if poller is not None:
                    poller.hold()
                await nc.request(SUBJECT, b"y" * 60, timeout=2)
                if poller is not None:
                    poller.release()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            out[f"{idle:g}"] = {
                "p50_ms": round(statistics.median(times), 3),
                "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
                "n": len(times),
            }
    finally:
        await nc.close()
    return out


def _requester(url: str, idles: list[float], count: int, poll: bool) -> dict[str, Any]:
    """The requests on a plain asyncio loop, or on a polling one (window 10 ms, any CPU)."""
    if not poll:
        return asyncio.run(_measure(url, idles, count, None))
    poller = BusyPollSelector(0.01, 1.0)
    with asyncio.Runner(loop_factory=poller.new_loop) as runner:
        return runner.run(_measure(url, idles, count, poller))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle", default="0,0.05,1", help="seconds asleep before each request")
    ap.add_argument("--count", type=int, default=40, help="requests per idle time")
    ap.add_argument(
        "--busy-cpu",
        action="store_true",
        help="keep one CPU busy meanwhile (a spinning process): what the wake-ups cost",
    )
    ap.add_argument("--json", default=str(RESULTS))
    plots.add_flag(ap)
    args = ap.parse_args()
    idles = [float(x) for x in args.idle.split(",")]
    with contextlib.ExitStack() as stack, running() as server:
        if args.busy_cpu:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            stack.callback(spinner.wait)
            stack.callback(spinner.kill)
        responder = subprocess.Popen(
            [sys.executable, "-c", RESPONDER, server.url, SUBJECT],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert responder.stdout is not None and responder.stdout.readline().strip() == "ready"
            results = {
                mode: _requester(server.url, idles, args.count, mode == "polling")
                for mode in ("sleeping", "polling")
            }
        finally:
            responder.kill()
            responder.wait()
    table = Table("requester awaits", "asleep before each request", "reply p50", "p99", "n")
    for mode, rows in results.items():
        for idle, r in rows.items():
            table.add_row(mode, f"{idle} s", f"{r['p50_ms']} ms", f"{r['p99_ms']} ms", str(r["n"]))
    Console().print(table)
    plots.save_stamped(args.json, {"results": results, "busy_cpu": args.busy_cpu}, args.plot)


if __name__ == "__main__":
    main()
