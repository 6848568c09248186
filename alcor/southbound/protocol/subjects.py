"""NATS subject names: the southbound address book shared by the controller and the agents.

Kept in one tiny module (imported by both sides) so that a subject is spelt once. Payloads are
the protobuf messages of `goalstate.proto`:

=============================  ==================  ==========================================
subject                        payload             who
=============================  ==================  ==========================================
alcor.host.<host>              HostDelta           compiler -> the one agent of <host>
alcor.net.<network>            NeighborDelta       compiler -> every agent with a port there
alcor.sg.<group>               AddressSetDelta     compiler -> every agent whose groups have a
                                                   rule with remote_group_id <group>
alcor.rpc.host_state           HostStateRequest    agent -> any server (request/reply,
                                                   reply HostGoalState)
alcor.rpc.neighbors            NeighborTableRequest agent -> any server (reply: NeighborTable
                                                   chunks; see `chunked reply` below)
alcor.rpc.address_set          AddressSetRequest   agent -> any server (reply: AddressSet
                                                   chunks)
alcor.rpc.register             AgentInfo           agent -> any server (reply RegisterReply)
alcor.heartbeat                Heartbeat           agent -> servers
alcor.status                   StatusReport        agent -> servers (queue group "servers")
=============================  ==================  ==========================================

Chunked reply: a NeighborTable (or AddressSet) larger than the connection's max payload is
sent as several messages of its type with chunk/chunks set, all to the request's reply inbox.

Host ids and network ids are carried in subjects; NATS forbids '.', '*', '>' and white space
in a token, and hostnames contain dots, so tokens are escaped by `token()`.
"""

PREFIX = "alcor"
RPC_HOST_STATE = f"{PREFIX}.rpc.host_state"
RPC_NEIGHBORS = f"{PREFIX}.rpc.neighbors"
RPC_ADDRESS_SET = f"{PREFIX}.rpc.address_set"
RPC_REGISTER = f"{PREFIX}.rpc.register"
HEARTBEAT = f"{PREFIX}.heartbeat"
STATUS = f"{PREFIX}.status"
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
    return f"{PREFIX}.host.{token(host_id)}"


def network(network_id: str) -> str:
    """Subject carrying NeighborDelta messages for one network."""
    return f"{PREFIX}.net.{token(network_id)}"


def group(group_id: str) -> str:
    """Subject carrying AddressSetDelta messages for one security group."""
    return f"{PREFIX}.sg.{token(group_id)}"
