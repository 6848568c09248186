"""Pure southbound pieces: message splitting, the seq chain of a subject, state hashing, and
the import boundaries (the agent: the protocol package only; the southbound: resources in
one module)."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

from alcor.southbound.protocol import chunks, subjects
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol.seqstream import SeqStream
from alcor.southbound.sim import state_hash


def neighbors(n: int) -> pb.NeighborDelta:
    return pb.NeighborDelta(
        network_id="n",
        seq=9,
        prev_seq=3,
        neighbors=[
            pb.NeighborState(port_id=f"p{i}", mac_address="fa:16:3e:00:00:01", revision=i)
            for i in range(n)
        ],
    )


def test_split_keeps_small_messages_whole() -> None:
    msg = neighbors(3)
    assert chunks.split(msg, "neighbors", 1 << 20) == [msg]


def test_split_spreads_entries_under_the_limit_and_keeps_scalars() -> None:
    msg = neighbors(2000)
    parts = chunks.split(msg, "neighbors", 8 * 1024)
    assert len(parts) > 1
    assert all(p.ByteSize() <= 8 * 1024 for p in parts)
    assert [n.port_id for p in parts for n in p.neighbors] == [n.port_id for n in msg.neighbors]
    assert all(p.seq == 9 and p.network_id == "n" for p in parts)


def test_stream_applies_in_order_drops_duplicates_and_resyncs_on_gap() -> None:
    async def main() -> None:
        applied: list[int] = []
        fetched: list[int] = []

        async def fetch() -> pb.HostGoalState:
            fetched.append(1)
            return pb.HostGoalState(seq=20)

        stream = SeqStream("test", lambda m: applied.append(m.seq), fetch, lambda full: None)
        stream.offer(pb.HostDelta(prev_seq=0, seq=5))
        stream.offer(pb.HostDelta(prev_seq=0, seq=5))  # duplicate
        stream.offer(pb.HostDelta(prev_seq=5, seq=7))
        assert applied == [5, 7] and not fetched
        stream.offer(pb.HostDelta(prev_seq=9, seq=12))  # 7..9 missed -> resync
        assert stream.syncing
        stream.offer(pb.HostDelta(prev_seq=12, seq=18))  # buffered, older than the state
        stream.offer(pb.HostDelta(prev_seq=20, seq=25))  # buffered, follows the state
        assert stream.task is not None
        await stream.task
        assert fetched == [1] and stream.seq == 25 and applied == [5, 7, 25]

    asyncio.run(main())


def test_state_hash_ignores_revisions_but_not_content() -> None:
    a = pb.PortState(id="p", revision=1, mac_address="fa:16:3e:00:00:01")
    b = pb.PortState(id="p", revision=2, mac_address="fa:16:3e:00:00:01")
    c = pb.PortState(id="p", revision=2, mac_address="fa:16:3e:00:00:02")
    assert state_hash([a], [], [], [], {}, {}) == state_hash([b], [], [], [], {}, {})
    assert state_hash([a], [], [], [], {}, {}) != state_hash([c], [], [], [], {}, {})


def test_the_agent_loads_only_the_southbound_protocol() -> None:
    # A fresh interpreter: what importing the agent pulls in, transitively (DESIGN §3).
    probe = (
        "import sys, alcor.agent.main, alcor.agent.cli; "
        "print('\\n'.join(m for m in sys.modules if m.startswith(('alcor.', 'sqlalchemy'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split()
    allowed = ("alcor.agent", "alcor.config", "alcor.southbound.protocol")
    assert "alcor.southbound.protocol.goalstate_pb2" in out
    assert [m for m in out if m != "alcor.southbound" and not m.startswith(allowed)] == []


def test_only_build_imports_resource_modules() -> None:
    root = Path(__file__).resolve().parents[2]
    importers = set()
    for path in (root / "alcor" / "southbound").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n == "alcor.resources" or n.startswith("alcor.resources.") for n in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"alcor/southbound/build.py"}


def test_subject_tokens_escape_injectively() -> None:
    assert subjects.host("h1.example.com") == "alcor.host.h1~dexample~dcom"
    names = [".", "~d", "~", "*", ">", " ", "a b", "a.b", "a~db"]
    assert len({subjects.token(n) for n in names}) == len(names)
    assert not any(c in subjects.token(n) for n in names for c in ".*> ")
