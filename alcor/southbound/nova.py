"""Nova notifications: the `network-vif-*` external events Neutron sends, off by default.

Nova boots a VM and waits for `network-vif-plugged` before resuming it, so a control plane
behind Nova must tell it when a compute port really became ACTIVE on its host. As Neutron's
notifier does, events are batched for `nova_send_interval` seconds and POSTed to
`<nova_url>/os-server-external-events`:

- a port of a VM (`device_owner` compute:*) turning ACTIVE: `network-vif-plugged`, completed;
- turning ERROR: `network-vif-plugged`, failed;
- ACTIVE turning DOWN: `network-vif-unplugged`, completed;
- deleted: `network-vif-deleted`, completed.

Delivery is best effort after commit (a failed POST is logged and retried once with the next
batch), exactly Neutron's contract: Nova times out and decides by itself if an event is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.request
from typing import Any

log = logging.getLogger(__name__)


def events_for(kind: str, payload: dict[str, Any]) -> list[dict[str, str]]:
    """Nova events for one committed change (none for ports that are not a VM's)."""
    if not str(payload.get("device_owner") or "").startswith("compute:"):
        return []
    if not payload.get("device_id"):
        return []
    base = {"server_uuid": payload["device_id"], "tag": payload["port_id"]}
    if kind == "port_deleted":
        return [{**base, "name": "network-vif-deleted", "status": "completed"}]
    if kind != "port_status":
        return []
    old, new = payload["old"], payload["new"]
    if new == "ACTIVE":
        return [{**base, "name": "network-vif-plugged", "status": "completed"}]
    if new == "ERROR":
        return [{**base, "name": "network-vif-plugged", "status": "failed"}]
    if old == "ACTIVE" and new == "DOWN":
        return [{**base, "name": "network-vif-unplugged", "status": "completed"}]
    return []


class NovaNotifier:
    """Collects events from committed transactions and POSTs them to Nova in batches."""

    def __init__(self, url: str, token: str = "", interval: float = 2.0) -> None:
        self.url = url.rstrip("/") + "/os-server-external-events"
        self.token = token
        self.interval = interval
        self._pending: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def on_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Database event listener (runs in the writer thread)."""
        batch = [e for kind, payload in events for e in events_for(kind, payload)]
        if batch:
            with self._lock:
                self._pending.extend(batch)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await asyncio.to_thread(self._post, batch)
            self.sent += len(batch)
        except OSError as exc:
            log.warning("Nova notification of %d events failed: %s", len(batch), exc)

    def _post(self, batch: list[dict[str, str]]) -> None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        body = json.dumps({"events": batch}).encode()
        req = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
