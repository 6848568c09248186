"""PNG charts of the benchmarks' JSON results, one module for all of them.

Every benchmark writes JSON under `benchmarks/results/`; `--plot` on a benchmark (or this
module on files already written: `python -m benchmarks.plots [FILE.json ...]`, default every
known file there) draws `<name>.png` beside it. A chart is chosen by the file's name
(`api`, `api-postgresql`, `ipam`, `southbound`, `dataplane`, `dataplane-sg`, `pgcost`, ...), so
results kept from older runs plot the same way; goals from the issues are drawn as dashed lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

RESULTS = Path(__file__).resolve().parent / "results"
Doc = dict[str, Any]


def _goal(ax: Axes, value: float, label: str) -> None:
    ax.axhline(value, color="grey", linestyle="--", linewidth=1)
    ax.annotate(label, (0, value), xycoords=("axes fraction", "data"), fontsize=8, va="bottom")


def _bars(ax: Axes, labels: list[str], series: dict[str, list[float]], unit: str) -> None:
    """Grouped bars: one group per label, one bar per series."""
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + i * width for x in range(len(labels))]
        ax.bar(xs, values, width, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylabel(unit)
    if len(series) > 1:
        ax.legend(fontsize=8)


def api(doc: Doc, fig: Figure) -> None:
    """Port create rate and p99 by concurrency, and create p50 as the table grows."""
    rate, p99, growth = fig.subplots(1, 3)
    for label, res in doc["results"].items():
        conc = [r["concurrency"] for r in res["create"]]
        rate.plot(conc, [r["rate_per_s"] for r in res["create"]], marker="o", label=label)
        p99.plot(conc, [r["p99_ms"] for r in res["create"]], marker="o", label=label)
        g = res.get("latency_growth")
        if g:
            growth.plot(
                [g["ports_before"], g["ports_after"]],
                [g["p50_before_ms"], g["p50_after_ms"]],
                marker="o",
                label=label,
            )
    _goal(rate, 1000, "goal >= 1,000/s at c=50")
    _goal(growth, 3, "goal p50 <= 3 ms")
    rate.set(title="port create", xlabel="concurrency", ylabel="ports/s")
    p99.set(title="port create p99", xlabel="concurrency", ylabel="ms")
    growth.set(title="create p50 as ports grow", xlabel="ports in the table", ylabel="ms")
    growth.set_xscale("log")
    for ax in (rate, p99, growth):
        ax.legend(fontsize=8)


def ipam(doc: Doc, fig: Figure) -> None:
    """One allocation per transaction, and allocate_many per value, by pool and database."""
    one, many = fig.subplots(1, 2)
    for backend in sorted({r["backend"] for r in doc["results"]}):
        rows = [r for r in doc["results"] if r["backend"] == backend]
        one.bar([f"{r['pool']}\n{backend}" for r in rows], [r["per_tx_allocs_per_s"] for r in rows])
        batch = [r for r in doc.get("allocate_many", []) if r["backend"] == backend]
        many.bar(
            [f"{r['pool']}\n{backend}" for r in batch],
            [r["many_us_per_value_p50"] for r in batch],
        )
    one.set(title="allocate: one per transaction", ylabel="allocations/s")
    many.set(title="allocate_many: per value (p50)", ylabel="µs")


def southbound(doc: Doc, fig: Figure) -> None:
    """Publish and all hosts acked (p50/p95 from commit) by fleet size."""
    ax = fig.subplots()
    rows = doc["results"]
    labels = [f"{r['hosts']:,} hosts" for r in rows]
    series = {
        f"{what} {q}": [r[key][q] for r in rows]
        for what, key in (("publish", "publish_ms"), ("acked", "host_ack_ms"))
        for q in ("p50", "p95")
    }
    _bars(ax, labels, series, "ms from commit")
    _goal(ax, 20, "publish goal 20 ms")
    ax.set_title(f"southbound, {doc.get('backend', '')}, {rows[0]['ports']:,}-port network")


def dataplane(doc: Doc, fig: Figure) -> None:
    """A neighbour table applied into OVS by size (log-log), with the goals."""
    ax = fig.subplots()
    rows = sorted(doc["part_b_neighbors"].values(), key=lambda r: r["entries"])
    sizes = [r["entries"] for r in rows]
    for key, label in (("apply_s", "apply"), ("join_s", "join (fetch + apply)")):
        ax.plot(sizes, [r[key] for r in rows], marker="o", label=label)
    ax.scatter([10_000, 100_000], [0.2, 2.0], marker="x", color="red", label="goal")
    ax.set(xscale="log", yscale="log", xlabel="neighbour entries", ylabel="s")
    ax.set_title("agent: neighbour table into OVS")
    ax.legend(fontsize=8)


def dataplane_sg(doc: Doc, fig: Figure) -> None:
    """Security-group flows against the naive expansion, and a join's/leave's latency."""
    flows, latency = fig.subplots(1, 2)
    flows.bar(["Alcor (conjunctions)", "rules x members"], [doc["sg_flows"], doc["naive_flows"]])
    flows.set(yscale="log", ylabel="flows", title=f"{doc['ports']} ports, 100 rules each")
    _bars(
        latency,
        ["join", "leave"],
        {q: [doc["join_ms"][q], doc["leave_ms"][q]] for q in ("p50", "p99")},
        "ms, API request -> flows on the host",
    )
    _goal(latency, 20, "join goal p50 20 ms")
    latency.set_title("remote group membership")


def dataplane_routing(doc: Doc, fig: Figure) -> None:
    """Routed vs switched RTT, and a floating IP's first packet (associate, move)."""
    rtt, fip = fig.subplots(1, 2)
    rtt.bar(["same subnet", "routed"], [doc["rtt_same_subnet_ms_p50"], doc["rtt_routed_ms_p50"]])
    rtt.set(ylabel="ms (p50)", title=f"ping RTT ({doc['routed_overhead_pct']:+} % routed)")
    first = doc["fip_first_packet_ms"]
    _bars(
        fip,
        ["associate", "move to another host"],
        {q: [first[q], first["move"][q]] for q in ("min", "p50", "max")},
        "ms, PUT -> first packet in the VM",
    )
    _goal(fip, 100, "goal 100 ms")
    fip.set_title("floating IP")


def dataplane_api(doc: Doc, fig: Figure) -> None:
    """VMs booted through the API: when all were created, plugged, ACTIVE and leased."""
    ax = fig.subplots()
    runs = doc["part_a_api"]
    stages = (("create_s", "created"), ("plug_s", "plugged"), ("active_s", "all ACTIVE"))
    _bars(
        ax,
        [f"{mode} ({r['vms']} VMs, {r['hosts']} hosts)" for mode, r in runs.items()],
        {
            **{label: [r[key] for r in runs.values()] for key, label in stages},
            "all leased": [r["leases_s"] for r in runs.values()],
        },
        "s from the first API call",
    )
    _goal(ax, 3, "goal 3 s")
    ax.set_title("VMs booted through the API")


def dataplane_stress(doc: Doc, fig: Figure) -> None:
    """The stress round: when the last port passed each stage, and CPU by process."""
    stages, cpu = fig.subplots(1, 2)
    marks = {**doc["last_stamp_after_start_s"], "all leased": doc["leases_s"]}
    stages.barh(list(marks), list(marks.values()))
    stages.axvline(10, color="grey", linestyle="--", linewidth=1)
    stages.invert_yaxis()
    stages.set(xlabel="s after the first API call (last port)")
    stages.set_title(f"{doc['vms']:,} VMs on {doc['hosts']} hosts (goal 10 s)")
    used = doc["cpu_s_during_clock"]
    cpu.barh(list(used), list(used.values()))
    cpu.invert_yaxis()
    cpu.set(xlabel="CPU s during the clock", title="where the CPU went")


def soak(doc: Doc, fig: Figure) -> None:
    """Resident memory of every process over the soak."""
    ax = fig.subplots()
    times = [s["t"] / 60 for s in doc["samples"]]
    for name in doc["memory"]:
        ax.plot(times, [s[name] for s in doc["samples"]], label=name)
    ax.set(xlabel="minutes", ylabel="RSS MB", yscale="log")
    ax.set_title(f"soak: {doc['sim_hosts']} simulated + {doc['real_hosts']} real hosts")
    ax.legend(fontsize=6, ncol=2)


def pgcost(doc: Doc, fig: Figure) -> None:
    """CPU per port create by process (one server, two replicas), and the rates."""
    cpu, rate = fig.subplots(1, 2)
    setups = list(doc["results"])
    parts = ("server", "postgresql", "nats", "haproxy", "load generator")
    _bars(
        cpu,
        setups,
        {n: [doc["results"][s]["cpu_ms_per_create"].get(n, 0.0) for s in setups] for n in parts},
        "CPU ms per create",
    )
    _goal(cpu, 2.0, "server goal 2 ms")
    _goal(cpu, 1.2, "PostgreSQL goal 1.2 ms")
    cpu.set_title(f"port create on PostgreSQL, c={doc['concurrency']}")
    rate.bar(setups, [doc["results"][s]["rate_per_s"] for s in setups])
    _goal(rate, 500, "goal >= 500/s (two replicas)")
    rate.set(ylabel="creates/s", title=f"load average {doc['load_before'][0]}")


def pgscale(doc: Doc, fig: Figure) -> None:
    """Create p99 and the 1,000-port list at 10k ports against 1M ports."""
    res = doc["results"]
    create, listing = fig.subplots(1, 2)
    sizes = [f"{res[k]['ports']:,} ports" for k in ("small", "large")]
    _bars(
        create,
        ["c=1", "c=10"],
        {
            size: [res[k][m]["p99_ms"] for m in ("create_c1", "create_c10")]
            for size, k in zip(sizes, ("small", "large"), strict=True)
        },
        "p99 ms",
    )
    _goal(create, 50, "goal p99 <= 50 ms")
    create.set_title("port create")
    listing.bar(sizes, [res[k]["list_1000"]["p50_ms"] for k in ("small", "large")])
    _goal(listing, 1.2 * res["small"]["list_1000"]["p50_ms"], "goal <= 1.2x")
    listing.set(ylabel="p50 ms", title="list of 1,000 ports")


def nats_idle(doc: Doc, fig: Figure) -> None:
    """A NATS request's round trip, back to back and after the CPUs went idle, with the
    requester sleeping or polling for the reply; and the same polling over UDP (direct)."""
    ax = fig.subplots(1, 1)
    rows = [(mode, idle, r) for mode, by in doc["results"].items() for idle, r in by.items()]
    _bars(
        ax,
        [f"{mode}, {idle} s asleep" for mode, idle, _ in rows],
        {q: [r[f"{q}_ms"] for _, _, r in rows] for q in ("p50", "p99")},
        "ms",
    )
    ax.set_title(f"request -> reply, load average {doc['meta']['loadavg_1m']}")


def resolve_cold(doc: Doc, fig: Figure) -> None:
    """The server's steps for one resolve query, called back to back and after sleeping."""
    ax = fig.subplots(1, 1)
    gaps = list(doc["results"])
    _bars(
        ax,
        [f"{gap} s asleep" for gap in gaps],
        {
            step: [doc["results"][g][f"{step}_us"] for g in gaps]
            for step in ("parse", "resolve", "serialise")
        },
        "µs",
    )
    ax.set_title(f"one resolve on the server, load average {doc['meta']['loadavg_1m']}")


def filter_hosts(doc: Doc, fig: Figure) -> None:
    """The hosts of a big group and of a big network's ACL found, and a rule's batch."""
    ax = fig.subplots(1, 1)
    names = list(doc["results"])
    _bars(ax, names, {"p50": [doc["results"][n]["p50_ms"] for n in names]}, "ms")
    ax.set_title(
        f"{doc['ports']:,} ports in one group and network on {doc['hosts']} hosts, "
        f"load average {doc['meta']['loadavg_1m']}"
    )


CHARTS: dict[str, Callable[[Doc, Figure], None]] = {
    "api": api,
    "ipam": ipam,
    "southbound": southbound,
    "dataplane": dataplane,
    "dataplane-sg": dataplane_sg,
    "dataplane-routing": dataplane_routing,
    "dataplane-api": dataplane_api,
    "dataplane-stress": dataplane_stress,
    "soak": soak,
    "pgcost": pgcost,
    "pgscale": pgscale,
    "nats-idle": nats_idle,
    "resolve-cold": resolve_cold,
    "filter-hosts": filter_hosts,
}


def chart_for(path: Path) -> Callable[[Doc, Figure], None] | None:
    return CHARTS.get(path.stem.removesuffix("-postgresql"))


def render(path: Path | str, png: Path | str | None = None) -> Path:
    """Draw the chart of the results file `path` into `png` (default: beside it)."""
    path = Path(path)
    draw = chart_for(path)
    if draw is None:
        raise ValueError(f"no chart for {path.name} (known: {', '.join(CHARTS)})")
    fig = plt.figure(figsize=(12, 4))
    draw(json.loads(path.read_text()), fig)
    fig.suptitle(f"{path.name}", fontsize=9, x=0.99, ha="right")
    fig.tight_layout()
    out = Path(png) if png else path.with_suffix(".png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print(f"chart written to {out}")
    return out


def save(path: Path | str, doc: Doc, plot: str | None) -> None:
    """Write a benchmark's results and, with `--plot [PNG]` (`plot` not None), chart them."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1))
    if plot is not None:
        render(path, plot or None)


def save_stamped(path: Path | str, doc: Doc, plot: str | None) -> None:
    """`save` with when, on how many CPUs and at what load the results were taken (`meta`)."""
    meta = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    save(path, {**doc, "meta": meta}, plot)


def add_flag(parser: argparse.ArgumentParser) -> None:
    """The benchmarks' `--plot [PNG]`: also chart the JSON written (beside it by default)."""
    parser.add_argument(
        "--plot",
        nargs="?",
        const="",
        default=None,
        metavar="PNG",
        help="also draw the results as a PNG chart (default: beside the JSON)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="results JSON (default: all known)")
    args = parser.parse_args(argv)
    files = args.files or sorted(p for p in RESULTS.glob("*.json") if chart_for(p))
    for path in files:
        render(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
