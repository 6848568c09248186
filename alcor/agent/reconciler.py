"""What the bridge holds, by owner, and the smallest bundle that moves it to the desired state.

Two paths, both diff-based and never a flush:

* `resync(full)`: the whole desired set goes to `ovs-ofctl --bundle replace-flows`, which
  compares with the bridge and changes only what differs. Used at start and after a gap, so
  a restarted agent does not disturb flows that are still right (kill -9 invariant).
* `apply(updates)`: for the owners (cookies) that changed, the new flow lists are compared
  with what this process last installed, giving `add` / `delete_strict` lines in one bundle.
  A neighbour added to a network is then a few lines, not a table rewrite.

The index is also global by flow key, so an owner never deletes a rule that another owner
holds now (keys are designed not to collide; this keeps a mistake from becoming an outage).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from alcor.agent.flows import Flow, delete_text
from alcor.agent.ofctl import Ofctl

Key = tuple[int, int, str]


class Reconciler:
    """Installed flows by cookie and by key, kept in step with the bridge's bundles."""

    def __init__(self, ofctl: Ofctl) -> None:
        self.ofctl = ofctl
        self.by_cookie: dict[int, set[Key]] = {}
        self.by_key: dict[Key, tuple[int, str]] = {}
        self.last_apply_s = 0.0
        self.last_lines = 0

    def __len__(self) -> int:
        return len(self.by_key)

    def diff(self, updates: Mapping[int, Iterable[Flow]]) -> list[str]:
        """Bundle lines turning the installed owners in `updates` into their new flow lists."""
        adds: list[str] = []
        deletes: list[str] = []
        for ck, flows in updates.items():
            new = {f.key: f.text(ck) for f in flows}
            for key in self.by_cookie.get(ck, set()) - new.keys():
                held = self.by_key.get(key)
                if held is not None and held[0] == ck:
                    deletes.append(delete_text(key))
            for key, line in new.items():
                if self.by_key.get(key) != (ck, line):
                    adds.append("add " + line)
        return deletes + adds

    def _commit(self, updates: Mapping[int, Iterable[Flow]]) -> None:
        for ck, flows in updates.items():
            new = {f.key: f.text(ck) for f in flows}
            for key in self.by_cookie.pop(ck, set()) - new.keys():
                held = self.by_key.get(key)
                if held is not None and held[0] == ck:
                    del self.by_key[key]
            for key, line in new.items():
                self.by_key[key] = (ck, line)
            if new:
                self.by_cookie[ck] = set(new)

    async def apply(self, updates: Mapping[int, list[Flow]]) -> int:
        """Install the changed owners as one bundle; returns the number of bundle lines."""
        lines = self.diff(updates)
        start = time.monotonic()
        if lines:
            await self.ofctl.bundle(lines)
        self._commit(updates)
        self.last_apply_s = time.monotonic() - start
        self.last_lines = len(lines)
        return len(lines)

    async def resync(self, full: Mapping[int, list[Flow]]) -> None:
        """Make the bridge hold exactly `full` (every other flow is removed)."""
        lines = [f.text(ck) for ck, flows in full.items() for f in flows]
        start = time.monotonic()
        await self.ofctl.replace(lines)
        self.by_cookie = {}
        self.by_key = {}
        self._commit(full)
        self.last_apply_s = time.monotonic() - start
        self.last_lines = len(lines)
