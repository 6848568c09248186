"""Server metrics in Prometheus' text format, served at `/metrics`.

Two kinds, so that the request path stays cheap:

* event metrics, observed where the work happens: API request latency (by method, route
  template and status; the histogram child is looked up once per label set and cached), the
  compiler's publish time and delay, port commit -> ACTIVE (from the provisioning stamps,
  after the status write committed), IPAM values allocated and released (announced by the
  allocator, counted once committed);
* state metrics, read only when scraped (`ServerCollector`): change-log head vs the compiler's
  cursor (rows and seconds behind), agents alive/dead, the DB pool and work queues. A scrape
  costs three small indexed queries; an idle server pays nothing.

The route label is Starlette's route template with the collection and member action filled in
when they name something served (`/v2.0/ports/{rid}`, `/v2.0/routers/{rid}/add_router_interface`);
unknown ones stay templates and unmatched paths are `unmatched`, so clients cannot grow the
label set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import prometheus_client
import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from alcor.ipam.pools import events as ipam_events
from alcor.store.db import Database
from alcor.store.schema import changelog, hosts, subject_seqs

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONVERGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

REQUESTS = prometheus_client.Histogram(
    "alcor_api_request_duration_seconds",
    "API requests: time from the request to the end of the response, by route and status",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
PUBLISH = prometheus_client.Histogram(
    "alcor_compiler_publish_seconds",
    "Compiler: time to publish one batch's messages to NATS and flush them",
    buckets=LATENCY_BUCKETS,
)
PUBLISH_DELAY = prometheus_client.Histogram(
    "alcor_compiler_publish_delay_seconds",
    "Compiler: from the commit of a batch's oldest change to its publication",
    buckets=CONVERGE_BUCKETS,
)
BATCHES = prometheus_client.Counter(
    "alcor_compiler_batches", "Compiler: batches published (messages sent and cursor moved)"
)
MESSAGES = prometheus_client.Counter(
    "alcor_compiler_messages", "Compiler: NATS messages published (chunks count one each)"
)
CHANGES = prometheus_client.Counter(
    "alcor_compiler_changes", "Compiler: change-log rows compiled (published or skipped)"
)
PORT_ACTIVE = prometheus_client.Histogram(
    "alcor_port_commit_to_active_seconds",
    "Ports: from the commit of the change a host programmed to the port turning ACTIVE",
    buckets=CONVERGE_BUCKETS,
)
REPORTS = prometheus_client.Counter(
    "alcor_status_reports_accepted", "Status intake: port reports accepted from their hosts"
)
DIRECT_RESOLVES = prometheus_client.Counter(
    "alcor_direct_resolves",
    "Direct resolve channel: requests answered, and datagrams refused (forged, stale, "
    "replayed or too big)",
    ["outcome"],
)

AUDIT_HOSTS = prometheus_client.Gauge(
    "alcor_audit_hosts",
    "State audit: hosts by state at the last round (in_step, differs, pending, unreported, dead)",
    ["state"],
)
AUDIT_STATES = ("in_step", "differs", "pending", "unreported", "dead")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


IPAM_VALUES = prometheus_client.Counter(
    "alcor_ipam_values",
    "IPAM: values allocated or released in committed transactions, by pool kind (ip, vni, "
    "flat) and operation",
    ["pool_kind", "op"],
)
_IPAM_OPS = {ipam_events.ALLOCATED: "allocate", ipam_events.RELEASED: "release"}
_ipam_children: dict[tuple[str, str], Any] = {}  # labels() costs µs: looked up once per pair


def on_events(events: list[tuple[str, dict[str, Any]]]) -> None:
    """`Database.on_event` listener: observe what committed units of work announced."""
    for kind, payload in events:
        if kind == "port_active":
            PORT_ACTIVE.observe(max(0.0, payload["since_commit"]))
        elif kind in _IPAM_OPS:
            key = (ipam_events.pool_kind(payload["pool_id"]), _IPAM_OPS[kind])
            child = _ipam_children.get(key)
            if child is None:
                child = _ipam_children[key] = IPAM_VALUES.labels(*key)
            child.inc(payload["count"])


def set_audit_counts(counts: dict[str, int]) -> None:
    """The state audit's last round (every state, 0 when none is in it)."""
    for state in AUDIT_STATES:
        AUDIT_HOSTS.labels(state).set(counts.get(state, 0))


def _dashed(name: str) -> str:
    name = name[:-5] if name.endswith(".json") else name
    return name.replace("_", "-")


class MetricsMiddleware:
    """Times every HTTP request by route template and status, and serves `GET /metrics`."""

    def __init__(
        self,
        app: Any,
        collections: Collection[str],
        scrape: Callable[[], bytes],
        path: str = "/metrics",
    ) -> None:
        self.app = app
        self.collections = frozenset(collections)
        self.scrape = scrape
        self.path = path
        self._children: dict[tuple[Any, ...], Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.path and scope["method"] in ("GET", "HEAD"):
            await self._serve(send)
            return
        start = time.perf_counter()
        status = 500  # what the client sees if the application fails before answering

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._child(scope, status).observe(time.perf_counter() - start)

    def _child(self, scope: dict[str, Any], status: int) -> Any:
        method = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        route = scope.get("route")
        params = scope.get("path_params") or {}
        collection = params.get("collection")
        if collection is not None:
            collection = _dashed(collection)
            if collection not in self.collections:
                collection = None
        action = params.get("action") if status != 404 and collection else None
        key = (method, id(route), collection, action, status)  # routes live as long as we do
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = REQUESTS.labels(
                method, self._template(route, collection, action), str(status)
            )
        return child

    @staticmethod
    def _template(route: Any, collection: str | None, action: str | None) -> str:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            return "unmatched"
        if collection is not None:
            path = path.replace("{collection}", collection)
        if action is not None:
            path = path.replace("{action}", action)
        return path

    async def _serve(self, send: Any) -> None:
        body = await asyncio.get_running_loop().run_in_executor(None, self.scrape)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", prometheus_client.CONTENT_TYPE_LATEST.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class ServerCollector(Collector):
    """State read at scrape time from the database and this process's southbound."""

    def __init__(
        self,
        db: Database,
        agent_down_time: float,
        compiler_cursor: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.db = db
        self.down_time = agent_down_time
        self.compiler_cursor = compiler_cursor  # this process's cursor while it holds the lease

    def _read(self, conn: sa.Connection) -> dict[str, Any]:
        head = conn.execute(sa.select(sa.func.max(changelog.c.seq))).scalar() or 0
        saved = (
            conn.execute(
                sa.select(subject_seqs.c.seq).where(subject_seqs.c.subject == "compiler")
            ).scalar()
            or 0
        )
        cursor = max(saved, self.compiler_cursor() or 0)
        oldest = conn.execute(
            sa.select(changelog.c.committed_at)
            .where(changelog.c.seq > cursor)
            .order_by(changelog.c.seq)
            .limit(1)
        ).scalar()
        cutoff = time.time() - self.down_time
        alive, total = conn.execute(
            sa.select(
                sa.func.sum(sa.case((hosts.c.heartbeat_at >= cutoff, 1), else_=0)),
                sa.func.count(),
            )
        ).one()
        return {
            "head": head,
            "cursor": cursor,
            "lag_seconds": max(0.0, time.time() - oldest) if oldest is not None else 0.0,
            "alive": alive or 0,
            "dead": (total or 0) - (alive or 0),
        }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self.db.read_sync(self._read)
        yield GaugeMetricFamily(
            "alcor_changelog_head_seq", "Newest committed change-log seq", value=state["head"]
        )
        yield GaugeMetricFamily(
            "alcor_compiler_cursor_seq",
            "Newest change-log seq the compiler has published (its cursor)",
            value=state["cursor"],
        )
        yield GaugeMetricFamily(
            "alcor_changelog_lag_rows",
            "Change-log rows committed but not yet compiled and published",
            value=max(0, state["head"] - state["cursor"]),
        )
        yield GaugeMetricFamily(
            "alcor_changelog_lag_seconds",
            "Age of the oldest change-log row not yet published (0 when caught up)",
            value=state["lag_seconds"],
        )
        agents = GaugeMetricFamily(
            "alcor_agents", "Registered host agents by liveness (agent_down_time)", labels=["state"]
        )
        agents.add_metric(["alive"], state["alive"])
        agents.add_metric(["dead"], state["dead"])
        yield agents
        pool = GaugeMetricFamily(
            "alcor_db_pool_connections", "Database connection pool", labels=["state"]
        )
        for name, value in self.db.pool_status().items():
            pool.add_metric([name], value)
        yield pool
        queues = GaugeMetricFamily(
            "alcor_db_queue_depth",
            "Units of work waiting for a database thread (writer: SQLite's group writer or "
            "the PostgreSQL writer pool; reader: the read pool)",
            labels=["queue"],
        )
        for name, value in self.db.queue_depths().items():
            queues.add_metric([name], value)
        yield queues


def scraper(collector: ServerCollector) -> Callable[[], bytes]:
    """What `/metrics` answers: the process-wide metrics (this module's, Python's and the
    process's) followed by the server's state."""
    own = CollectorRegistry(auto_describe=False)
    own.register(collector)

    def scrape() -> bytes:
        return prometheus_client.generate_latest() + prometheus_client.generate_latest(own)

    return scrape
