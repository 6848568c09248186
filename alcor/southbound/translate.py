"""What the compiler's translators work with: the batch's shared loaders and its deltas.

Why translators (DESIGN §3): the compiler reads the change log, groups a batch's rows by
resource kind and hands each group to that kind's translator (`translators/`); it knows nothing
of ports or networks itself. A translator decides which subjects a change touches (a host, a
network; later a security group, a router) and renders the resource's state there from
*current* rows, always through `build`, the one row -> protobuf translator shared with the
full-state RPCs. A new kind on the southbound is a new translator module (and its protobuf
messages), never an edit of the compiler.

Why two phases: a batch holds up to thousands of log rows, and rows are never read one by one.
A translator's `plan` sees its kind's log rows and names the ids it will need, from the log
alone, then returns its renderer, which the compiler calls once every translator has planned.
The renderer reads the rows through the batch's shared loaders (`Context.rows`): a loader
fetches everything wanted so far in one query when it is first read, so ids another translator
planned ride on the same query. A renderer that learns ids only from rows (a port's network)
wants them all before it reads any of them. A batch therefore costs a fixed number of queries,
whatever its size, and reading an id nobody wanted is a bug (LookupError), not a hidden query
per row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast

import sqlalchemy as sa

from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.store.db import UnitOfWork

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

LogRow = Mapping[str, Any]  # a `changelog` row


class Delta(Protocol):
    """What every delta message carries, whatever its subject (see goalstate.proto)."""

    seq: int
    prev_seq: int
    committed_at: float
    published_at: float

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...


D = TypeVar("D", bound=Delta)


@dataclasses.dataclass(frozen=True)
class Family(Generic[D]):
    """A family of subjects (one per host, one per network...) and the delta it carries."""

    subject: Callable[[str], str]  # key (host id, network id...) -> NATS subject
    make: Callable[[str], D]  # key -> an empty delta for that subject
    split_field: str  # the repeated field a delta too large for one NATS message is split on


HOSTS: Family[pb.HostDelta] = Family(subjects.host, lambda h: pb.HostDelta(host_id=h), "ports")
NETWORKS: Family[pb.NeighborDelta] = Family(
    subjects.network, lambda n: pb.NeighborDelta(network_id=n), "neighbors"
)
GROUPS: Family[pb.AddressSetDelta] = Family(
    subjects.group, lambda g: pb.AddressSetDelta(group_id=g), "members"
)
ROUTERS: Family[pb.RouterDelta] = Family(
    subjects.router, lambda r: pb.RouterDelta(router_id=r), "routers"
)


class Loader(Generic[K, V]):
    """One batched fetch shared by the batch's translators: `want` ids, then `get` them."""

    def __init__(
        self, conn: sa.Connection, fetch: Callable[[sa.Connection, Iterable[K]], Mapping[K, V]]
    ) -> None:
        self._conn = conn
        self._fetch = fetch
        self._wanted: set[K] = set()
        self._fetched: set[K] = set()
        self._values: dict[K, V] = {}

    def want(self, keys: Iterable[K]) -> None:
        self._wanted.update(k for k in keys if k not in self._fetched)

    def get(self, key: K) -> V | None:
        """The value of a wanted key (None when no row has it); fetches what is pending."""
        if self._wanted:
            self._values.update(self._fetch(self._conn, self._wanted))
            self._fetched |= self._wanted
            self._wanted = set()
        if key not in self._fetched:
            raise LookupError(f"{key!r} read before it was wanted ({self._fetch.__name__})")
        return self._values.get(key)


class Context:
    """The read transaction of one batch and its loaders, one per fetch function."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._loaders: dict[object, object] = {}

    def rows(self, fetch: Callable[[sa.Connection, Iterable[K]], Mapping[K, V]]) -> Loader[K, V]:
        """The batch's loader for `fetch` (e.g. `build.load_ports`), shared by all translators."""
        loader = self._loaders.get(fetch)
        if loader is None:
            loader = self._loaders[fetch] = Loader(self.conn, fetch)
        return cast(Loader[K, V], loader)

    def want(
        self,
        keys: Iterable[K],
        *fetches: Callable[[sa.Connection, Iterable[K]], Mapping[K, object]],
    ) -> None:
        """Want the same keys from several loaders (a network's row, subnets and hosts)."""
        wanted = set(keys)
        for fetch in fetches:
            self.rows(fetch).want(wanted)


@dataclasses.dataclass
class PortTarget:
    """What the batch told the hosts about one port, for `port_provisioning` stamps."""

    port_id: str
    host_id: str | None  # host that got the UPSERT; None when deleted or unbound
    revision: int
    committed_at: float
    deleted: bool
    request_id: str | None = None  # the API request of the newest change rendered
    requested_at: float | None = None  # when that request arrived


Record = Callable[[UnitOfWork], None]


class Output:
    """The deltas of one batch by subject, each carrying its newest seq and commit time, the
    ports whose provisioning the compiler stamps once they are published, and `records`: what
    a translator remembers of what it published (written in the same transaction as the
    subject seqs, so a batch lost before it was flushed is neither published nor remembered);
    and `notices`: messages outside the seq streams (the on-demand invalidations of
    `ondemand`), published with the batch, whose entries carry revisions instead."""

    def __init__(self) -> None:
        self.deltas: dict[str, Delta] = {}
        self.split_fields: dict[str, str] = {}
        self.ports: list[PortTarget] = []
        self.records: list[Record] = []
        self.notices: dict[str, pb.NeighborDelta] = {}

    def notice(self, entry: pb.NeighborState, change: LogRow) -> None:
        """Publish `entry` to the hosts that resolved its port on demand."""
        msg = pb.NeighborDelta(network_id=entry.network_id, committed_at=change["committed_at"])
        msg.neighbors.append(entry)
        self.notices[subjects.neighbor(entry.network_id, entry.port_id)] = msg

    def delta(self, family: Family[D], key: str, change: LogRow) -> D:
        """The batch's delta on `family`'s subject for `key`, now covering `change`."""
        subject = family.subject(key)
        msg = self.deltas.get(subject)
        if msg is None:
            msg = self.deltas[subject] = family.make(key)
            self.split_fields[subject] = family.split_field
        msg.seq = max(msg.seq, change["seq"])
        msg.committed_at = max(msg.committed_at, change["committed_at"])
        return cast(D, msg)


Render = Callable[[Output], None]


@dataclasses.dataclass(frozen=True)
class Translator:
    """How one resource kind's changes reach the hosts (see the module docstring)."""

    kind: str  # the change log's `resource`
    plan: Callable[[Sequence[LogRow], Context], Render]  # log rows in order -> its renderer
