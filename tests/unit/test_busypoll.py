"""The agent's polling selector: what a window polls for, and what bounds it."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Iterator

from alcor.agent.busypoll import BusyPollSelector


@contextlib.contextmanager
def _answering(window: float, cpu: float) -> Iterator[tuple[BusyPollSelector, socket.socket]]:
    """A selector watching one end of a socket pair; the other end answers."""
    selector = BusyPollSelector(window=window, cpu=cpu)
    mine, theirs = socket.socketpair()
    mine.setblocking(False)
    selector.register(mine, selectors.EVENT_READ, "answer")
    try:
        yield selector, theirs
    finally:
        selector.close()
        mine.close()
        theirs.close()


def test_an_answer_written_while_the_window_is_open_is_read_by_polling() -> None:
    with _answering(window=5.0, cpu=1.0) as (selector, theirs):
        selector.hold()
        writer = threading.Timer(0.005, theirs.send, (b"x",))
        writer.start()
        ready = selector.select(timeout=5.0)
        writer.join()
        assert [key.data for key, _ in ready] == ["answer"]
        assert selector.polled > 0


def test_without_cpu_to_spend_the_selector_sleeps_as_usual() -> None:
    with _answering(window=5.0, cpu=0.0) as (selector, theirs):
        selector.hold()
        assert selector.select(timeout=0.01) == []
        theirs.send(b"x")
        assert [key.data for key, _ in selector.select(timeout=5.0)] == ["answer"]
        assert selector.polled == 0


def test_the_window_closes_with_the_last_answer_awaited() -> None:
    selector = BusyPollSelector(window=5.0, cpu=1.0)
    try:
        selector.hold()
        selector.hold()
        selector.release()
        assert selector.until > 0
        selector.release()
        assert selector.until == 0.0
        assert selector.select(timeout=0.001) == []
        assert selector.polled == 0
        selector.release()  # one release too many does not open anything
        assert selector.holding == 0
    finally:
        selector.close()


def test_an_event_loop_on_it_reads_its_streams() -> None:
    selector = BusyPollSelector(window=1.0, cpu=1.0)

    async def echo() -> bytes:
        a, b = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=a)
        selector.hold()
        asyncio.get_running_loop().call_later(0.002, b.send, b"answer")
        try:
            return await reader.readexactly(6)
        finally:
            selector.release()
            writer.close()
            b.close()

    with asyncio.Runner(loop_factory=selector.new_loop) as runner:
        assert runner.run(echo()) == b"answer"


def test_lingering_polls_a_little_longer_without_holding() -> None:
    selector = BusyPollSelector(window=0.002, cpu=1.0)
    try:
        selector.linger(10.0)  # never beyond a window
        assert 0 < selector.until <= time.monotonic() + 0.002
        assert selector.holding == 0
        assert selector.select(timeout=0.05) == []
        assert selector.polled > 0
    finally:
        selector.close()
    off = BusyPollSelector(window=0.0, cpu=1.0)
    try:
        off.linger(1.0)
        off.hold()
        assert off.until == 0.0
    finally:
        off.close()
