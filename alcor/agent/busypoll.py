"""Busy polling: the agent's event loop polls instead of sleeping while an answer is due.

Why: a first packet to a neighbour the host does not hold waits for the agent's question to
the server (`ondemand.Resolver`): agent -> nats-server -> server and back. Every process on
that path that sleeps must be woken, and on this kind of machine the wake-ups, not the work,
are what the path costs: `benchmarks/nats_idle.py` times a NATS request at 0.15 ms back to
back and 0.80 ms after an idle second (a virtual machine whose idle vCPU halts; on bare
metal, leaving a deep C-state costs tens to hundreds of µs). While a question is in flight
the agent polls its sockets instead: it reads the answer without being woken (a first
packet's NATS leg back: 0.25 ms polling, 0.37 sleeping). Kernel busy polling
(`net.core.busy_poll`) does the same for a NIC's queues; it does not apply to loopback or
unix sockets.

Bounded twice: a window lasts until the answers come or `window` seconds pass, and polling
takes at most `cpu` of one CPU over time (a VM scanning its network keeps questions in
flight all the time: the loop then sleeps as usual). Nothing waits on the polling: it is
the selector's, so whatever is ready meanwhile (DHCP, programming, other answers) is handled
by the loop as always.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from typing import Any


class BusyPollSelector(selectors.EpollSelector):
    """An epoll selector that polls (timeout 0) while a window is open (`hold`)."""

    def __init__(self, window: float, cpu: float) -> None:
        super().__init__()
        self.window = window  # seconds a window stays open at most
        self.cpu = cpu  # share of one CPU polling may take (tokens refill at this rate)
        self.tokens = cpu  # seconds of polling allowed now: at most one second's worth
        self.refilled = time.monotonic()
        self.until = 0.0  # monotonic end of the open window (0: closed)
        self.holding = 0  # answers awaited
        self.polled = 0.0  # seconds spent polling (metrics)

    def new_loop(self) -> asyncio.AbstractEventLoop:
        """An event loop on this selector (`asyncio.Runner(loop_factory=...)`)."""
        return asyncio.SelectorEventLoop(self)

    def hold(self) -> None:
        """An answer is due: poll until it comes (`release`) or the window ends."""
        self.holding += 1
        if self.window > 0:
            self.until = time.monotonic() + self.window

    def release(self) -> None:
        """An awaited answer came (or never will); the window closes with the last one."""
        self.holding = max(0, self.holding - 1)
        if not self.holding:
            self.until = 0.0

    def linger(self, seconds: float) -> None:
        """Keep polling `seconds` more, nothing held: a packet is due that quickly (a VM that
        got its ARP answer sends the packet that waited for it)."""
        if self.window > 0:
            self.until = max(self.until, time.monotonic() + min(seconds, self.window))

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, Any]]:
        start = time.monotonic()
        if start >= self.until:
            self.until = 0.0  # closed, or past its end
        if not self.until or (timeout is not None and timeout <= 0):
            return super().select(timeout)
        self.tokens = min(self.cpu, self.tokens + (start - self.refilled) * self.cpu)
        self.refilled = start
        end = min(self.until, start + self.tokens)
        if timeout is not None:
            end = min(end, start + timeout)
        ready: list[tuple[selectors.SelectorKey, Any]] = []
        now = start
        while now < end and not ready:
            ready = super().select(0)
            now = time.monotonic()
        self.tokens -= now - start
        self.polled += now - start
        if ready or (timeout is not None and now >= start + timeout):
            return ready
        return super().select(None if timeout is None else start + timeout - now)
