"""The buffered random bytes behind ids and MACs: well-formed, never repeated across threads,
and a forked child never draws what its parent draws."""

from __future__ import annotations

import os
import threading
import uuid

from alcor.store import entropy


def test_uuid4_is_a_canonical_version_4_uuid() -> None:
    for _ in range(1000):
        text = entropy.uuid4()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ids_are_distinct_across_buffer_refills_and_threads() -> None:
    drawn: list[str] = []

    def draw() -> None:
        drawn.extend(entropy.uuid4() for _ in range(3 * entropy.CHUNK // 16))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(drawn)) == len(drawn) == 4 * 3 * entropy.CHUNK // 16


def test_a_forked_child_draws_its_own_bytes() -> None:
    entropy.random_bytes(1)  # the parent's buffer is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, entropy.random_bytes(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != entropy.random_bytes(16)
