"""What a NATS request costs on this machine, warm and after the CPUs went idle (not in CI).

Why: a first packet to an on-demand neighbour (`benchmarks/dataplane_ondemand.py`) crosses
about nine processes (OVS, the agent, nats-server, the server and back, OVS on two hosts, the
VM), each woken from idle, and its trace shows no step of ours longer than 0.3 ms. This
measures the same request/reply hop alone, between two Python processes through a bundled
nats-server (the responder on uvloop, as `alcor server`; the requester on asyncio, as the
agent): back to back, and after the requester slept `--idle` seconds, so the difference is
what waking the three processes costs here, not anything in Alcor's code. Then the same with
the requester polling for its reply instead of sleeping (`alcor.agent.busypoll`, as the agent
awaits a resolve answer), and polling for a UDP answer from a responder on uvloop, no
nats-server between them (the direct resolve channel, `alcor.southbound.protocol.direct`).
`--busy-cpu` keeps one CPU busy meanwhile: the other processes are then woken on a CPU that
did not halt.

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
UDP_RESPONDER = """
import asyncio, sys, uvloop
class Answer(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        self.transport.sendto(b"x" * 120, addr)
async def main():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Answer, local_addr=("127.0.0.1", 0))
    print(transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""
MODES = ("sleeping", "polling", "direct")


class _Answers(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.due: asyncio.Future[bytes] | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.due is not None and not self.due.done():
            self.due.set_result(data)


async def _measure(
    url: str, udp_port: int, idles: list[float], count: int, poller: BusyPollSelector | None
) -> dict[str, dict[str, float]]:
    """Requests over NATS, or over UDP to `udp_port` when it is not 0."""
    nc = await nats.connect(url)
    loop = asyncio.get_running_loop()
    transport, answers = await loop.create_datagram_endpoint(
        _Answers, remote_addr=("127.0.0.1", udp_port or 9)
    )
    out: dict[str, dict[str, float]] = {}
    try:
        for idle in idles:
            times = []
            for _ in range(count):
                await asyncio.sleep(idle)
                started = time.perf_counter()
                if poller is not None:
                    poller.hold()
                if udp_port:
                    answers.due = loop.create_future()
                    transport.sendto(b"y" * 60)
                    await asyncio.wait_for(answers.due, 2)
                else:
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
        transport.close()
        await nc.close()
    return out


def _requester(
    url: str, udp_port: int, idles: list[float], count: int, mode: str
) -> dict[str, Any]:
    """The requests on a plain asyncio loop (sleeping), or on a polling one (window 10 ms,
    any CPU) over NATS (polling) or UDP (direct)."""
    if mode == "sleeping":
        return asyncio.run(_measure(url, 0, idles, count, None))
    poller = BusyPollSelector(0.01, 1.0)
    port = udp_port if mode == "direct" else 0
    with asyncio.Runner(loop_factory=poller.new_loop) as runner:
        return runner.run(_measure(url, port, idles, count, poller))


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
    with running() as server, contextlib.ExitStack() as stack:
        if args.busy_cpu:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            stack.callback(spinner.wait)
            stack.callback(spinner.kill)
        responders = [
            subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, text=True)
            for code, argv in ((RESPONDER, [server.url, SUBJECT]), (UDP_RESPONDER, []))
        ]
        for responder in responders:
            stack.callback(responder.wait)
            stack.callback(responder.kill)
        said = [p.stdout.readline().strip() if p.stdout else "" for p in responders]
        assert said[0] == "ready", said
        results = {
            mode: _requester(server.url, int(said[1]), idles, args.count, mode) for mode in MODES
        }
    table = Table("requester awaits", "asleep before each request", "reply p50", "p99", "n")
    for mode, rows in results.items():
        for idle, r in rows.items():
            table.add_row(mode, f"{idle} s", f"{r['p50_ms']} ms", f"{r['p99_ms']} ms", str(r["n"]))
    Console().print(table)
    plots.save_stamped(args.json, {"results": results, "busy_cpu": args.busy_cpu}, args.plot)


if __name__ == "__main__":
    main()
