"""NATS subject names: the southbound address book shared by the controller and the agents.

Kept in one tiny module (imported by both sides) so that a subject is spelt once. Payloads are
the protobuf messages of `goalstate.proto`:

==============================  ===================  =========================================
subject                         payload              who
==============================  ===================  =========================================
alcor.host.<host>               HostDelta            compiler -> the one agent of <host>
alcor.net.<network>             NeighborDelta        compiler -> every agent with a port there
alcor.sg.<group>                AddressSetDelta      compiler -> every agent whose groups have
                                                     a rule with remote_group_id <group>
alcor.router.<router>           RouterDelta          compiler -> every agent with a port on a
                                                     network the router has an interface on
alcor.nbr.<network>.<port>      NeighborDelta        compiler -> agents that resolved <port> of
                                                     an on-demand network (one entry, no seq:
                                                     an invalidation, see `ondemand`)
alcor.rpc.resolve               ResolveRequest       agent -> any server (reply: ResolveReply)
alcor.rpc.host_state.<host>     HostStateRequest     agent of <host> -> any server
                                                     (request/reply, reply HostGoalState)
alcor.rpc.neighbors             NeighborTableRequest agent -> any server (reply: NeighborTable
                                                     chunks; see `chunked reply` below)
alcor.rpc.address_set           AddressSetRequest    agent -> any server (reply: AddressSet
                                                     chunks)
alcor.rpc.router                RouterStateRequest   agent -> any server (reply: RouterDelta)
alcor.rpc.register.<host>       AgentInfo            agent of <host> -> any server
                                                     (reply RegisterReply)
alcor.heartbeat.<host>          Heartbeat            agent of <host> -> servers
alcor.status.<host>             StatusReport         agent of <host> -> servers (queue group
                                                     "servers")
_INBOX.alcor.<host>.>           replies              servers -> the agent of <host>
==============================  ===================  =========================================

Why the sender's host is in the subject: NATS tells a subscriber nothing about who published
a core message, but its permissions are per subject. With per-host credentials
(`alcor.southbound.nats_auth`) a host may publish only under its own token, so the subject is
the authenticated sender, and the servers accept a message only if the host id inside it
matches (`sent_by`). Agents take their reply inboxes under `inbox(host)` for the same reason:
a host may subscribe to its own replies and not to another host's.

Chunked reply: a NeighborTable (or AddressSet) larger than the connection's max payload is
sent as several messages of its type with chunk/chunks set, all to the request's reply inbox.

Host ids and network ids are carried in subjects; NATS forbids '.', '*', '>' and white space
in a token, and hostnames contain dots, so tokens are escaped by `token()`.
"""

PREFIX = "alcor"
HOST = f"{PREFIX}.host"
NETWORK = f"{PREFIX}.net"
GROUP = f"{PREFIX}.sg"
ROUTER = f"{PREFIX}.router"
NEIGHBOR = f"{PREFIX}.nbr"
RPC_RESOLVE = f"{PREFIX}.rpc.resolve"
RPC_HOST_STATE = f"{PREFIX}.rpc.host_state"
RPC_NEIGHBORS = f"{PREFIX}.rpc.neighbors"
RPC_ADDRESS_SET = f"{PREFIX}.rpc.address_set"
RPC_ROUTER = f"{PREFIX}.rpc.router"
RPC_REGISTER = f"{PREFIX}.rpc.register"
HEARTBEAT = f"{PREFIX}.heartbeat"
STATUS = f"{PREFIX}.status"
# The per-host subjects: `<kind>.<host>`, sent by that host (see the module docstring).
FROM_HOSTS = (RPC_HOST_STATE, RPC_REGISTER, HEARTBEAT, STATUS)
INBOX = "_INBOX"
SERVER_QUEUE = "servers"

# str.translate, not a join over characters: the compiler names a subject per entry it renders.
_ESCAPES = str.maketrans({".": "~d", "*": "~s", ">": "~g", " ": "~w", "~": "~~"})


def token(name: str) -> str:
    """Escape a name so it is one valid NATS subject token (injective, readable)."""
    if not name:
        raise ValueError("empty subject token")
    return name.translate(_ESCAPES)


def host(host_id: str) -> str:
    """Subject carrying HostDelta messages for one host."""
    return f"{HOST}.{token(host_id)}"


def network(network_id: str) -> str:
    """Subject carrying NeighborDelta messages for one network."""
    return f"{NETWORK}.{token(network_id)}"


def neighbor(network_id: str, port_id: str) -> str:
    """Subject carrying the changes of one port of an on-demand network, for the hosts that
    resolved it (NATS delivers only where someone subscribed: the interest registration)."""
    return f"{NEIGHBOR}.{token(network_id)}.{token(port_id)}"


def of_host(kind: str, host_id: str) -> str:
    """The subject on which `host_id` sends messages of `kind` (one of `FROM_HOSTS`)."""
    return f"{kind}.{token(host_id)}"


def every(kind: str) -> str:
    """`kind` (`HOST`, `NETWORK`, `GROUP`, `ROUTER` or one of `FROM_HOSTS`) for every host,
    network, group or router."""
    return f"{kind}.*"


def sent_by(subject: str, host_id: str) -> bool:
    """Whether a message on per-host `subject` names the host that subject belongs to."""
    return bool(host_id) and subject.rpartition(".")[2] == token(host_id)


def inbox(host_id: str) -> str:
    """Prefix of the reply inboxes of `host_id` (nats-py's `inbox_prefix`). The `alcor`
    token keeps it apart from the default `_INBOX.<random>` inboxes of servers."""
    return f"{INBOX}.{PREFIX}.{token(host_id)}"


def group(group_id: str) -> str:
    """Subject carrying AddressSetDelta messages for one security group."""
    return f"{GROUP}.{token(group_id)}"


def router(router_id: str) -> str:
    """Subject carrying RouterDelta messages for one router."""
    return f"{ROUTER}.{token(router_id)}"
