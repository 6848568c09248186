"""The agent's metrics in Prometheus' text format, on its own address (`metrics_bind`).

Off unless `metrics_bind` is set (`127.0.0.1:9697`): the agent otherwise listens on no TCP
port (README, "What listens where"). Served from a thread by prometheus-client's own HTTP
server, so a scrape never waits for the agent's event loop, and reads only counters and sizes
the loop keeps anyway.

Event metrics are observed where the work happens: programming rounds (full resync or
incremental, ok or failed) and their duration, DHCP replies sent. State is read at scrape
time (`AgentCollector`): installed flows by owner kind (the cookie's high byte), full-state
fetches by stream kind (host, network, group, router; the first sync of each stream counts),
connections made by kind (OVSDB, OpenFlow from ovs-vswitchd, NATS): all but the first of
each are reconnects; the misses of on-demand networks and what became of them (the
counts of `ondemand.Resolver`); and the time spent busy polling for their answers.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from alcor.agent import acl, flows, security
from alcor.config import split_address

if TYPE_CHECKING:
    from alcor.agent.main import Agent

REGISTRY = CollectorRegistry(auto_describe=False)
ROUND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0)

ROUNDS = prometheus_client.Counter(
    "alcor_agent_programming_rounds",
    "Programming rounds of the bridge, by kind (full: a diff of everything; incremental) "
    "and outcome (ok, failed)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
ROUND_SECONDS = prometheus_client.Histogram(
    "alcor_agent_programming_seconds",
    "Time of one programming round, from the changes taken to OVS acknowledging them",
    ["kind"],
    buckets=ROUND_BUCKETS,
    registry=REGISTRY,
)
prometheus_client.ProcessCollector(registry=REGISTRY)
DHCP_REPLIES = prometheus_client.Counter(
    "alcor_agent_dhcp_replies", "DHCP offers and acks sent to local VMs", registry=REGISTRY
)

# Cookie kinds as owners name them.
OWNER_KINDS = {
    flows.KIND_STATIC: "static",
    flows.KIND_PORT: "port",
    flows.KIND_NETWORK: "network",
    flows.KIND_NEIGHBOR: "neighbor",
    flows.KIND_ROUTER: "router",
    security.KIND_SG_PORT: "sg_port",
    security.KIND_ADDRESS_SET: "address_set",
    security.KIND_SET_MEMBER: "address_set_member",
    acl.KIND_ACL_PORT: "acl_port",
}


class AgentCollector(Collector):
    """What one agent holds, read when scraped (from the HTTP server's thread: only
    snapshots made in one C call, `list(dict.items())`, and sizes)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Any]:
        agent = self.agent
        by_kind: collections.Counter[str] = collections.Counter()
        for cookie, keys in list(agent.reconciler.by_cookie.items()):
            number = flows.cookie_kind(cookie)
            by_kind[OWNER_KINDS.get(number, f"kind_{number}")] += len(keys)
        by_kind["neighbor"] += agent.reconciler.neighbor_flows
        yield _family(
            GaugeMetricFamily,
            "alcor_agent_flows",
            "Flows installed on br-int by owner kind",
            "owner_kind",
            by_kind,
        )
        yield _family(
            CounterMetricFamily,
            "alcor_agent_resyncs",
            "Full-state fetches (a gap in a stream's seq, a reconnect, or its first sync)",
            "stream",
            agent.resync_counts(),
        )
        yield _family(
            CounterMetricFamily,
            "alcor_agent_connections",
            "Connections made, by kind; all but the first are reconnects",
            "connection",
            agent.connection_counts(),
        )
        yield GaugeMetricFamily(
            "alcor_agent_ports",
            "Ports of this host in its goal state",
            value=len(agent.model.ports),
        )
        resolver = agent.resolver
        yield _family(
            CounterMetricFamily,
            "alcor_agent_neighbor_misses",
            "Packets of on-demand networks that no neighbour entry matched, by kind (arp, nd, "
            "l2, routed); those above a VIF's meter never reach the agent",
            "kind",
            dict(resolver.misses),
        )
        yield _family(
            CounterMetricFamily,
            "alcor_agent_neighbor_resolutions",
            "On-demand neighbours: entries learnt by asking, questions nobody answered, "
            "entries expired idle, resolve requests sent",
            "outcome",
            {
                "learnt": resolver.resolved,
                "unknown": resolver.unresolved,
                "expired": resolver.expired,
                "requests": resolver.requests,
            },
        )
        if agent.direct is not None:
            yield _family(
                CounterMetricFamily,
                "alcor_agent_direct_resolves",
                "Resolve requests sent on the server's direct channel (alcor.agent.direct), "
                "and those unanswered in time (asked again over NATS)",
                "outcome",
                {"asked": agent.direct.asked, "missed": agent.direct.missed},
            )
        if agent.poller is not None:
            yield CounterMetricFamily(
                "alcor_agent_busy_poll_seconds",
                "Seconds the event loop polled instead of sleeping while resolve answers "
                "were due (alcor.agent.busypoll; at most resolve_poll_cpu of a CPU)",
                value=agent.poller.polled,
            )


def _family(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    documentation: str,
    label: str,
    values: Mapping[str, int],
) -> Any:
    family = kind(name, documentation, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], count)
    return family


class Exporter:
    """Serves one agent's metrics on `bind` (host:port) until `stop()`."""

    def __init__(self, agent: Agent, bind: str) -> None:
        host, port = split_address(bind, "127.0.0.1")
        self.server, _ = prometheus_client.start_http_server(port, host, registry=REGISTRY)
        self.collector = AgentCollector(agent)
        REGISTRY.register(self.collector)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        REGISTRY.unregister(self.collector)
