"""Polling for a condition in tests that watch a distributed system converge."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    """Call `check` until it returns something truthy; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def all_published(http: httpx.Client) -> bool:
    """Whether the server behind `http` has published every committed change (its
    `alcor_changelog_lag_rows` metric is 0)."""
    text = http.get("/metrics").text
    lag = [ln for ln in text.splitlines() if ln.startswith("alcor_changelog_lag_rows ")]
    return bool(lag) and float(lag[0].split()[1]) == 0
