"""Nova notifications: the `network-vif-*` external events Neutron sends, off by default.

Nova boots a VM and waits for `network-vif-plugged` before resuming it, so a control plane
behind Nova must tell it when a compute port really became ACTIVE on its host. As Neutron's
notifier does, events are batched for `nova_send_interval` seconds and POSTed to
`<nova_url>/os-server-external-events`:

- a port of a VM (`device_owner` compute:*) turning ACTIVE: `network-vif-plugged`, completed;
- its VIF programmed on the host of an inactive binding (a live migration's destination, before
  Nova activates that binding): `network-vif-plugged`, completed, the port's status unchanged;
- turning ERROR: `network-vif-plugged`, failed;
- ACTIVE turning DOWN: `network-vif-unplugged`, completed;
- deleted: `network-vif-deleted`, completed.

Delivery is best effort after commit, Neutron's contract: Nova times out and decides by itself
if an event never comes. A POST that fails (Nova unreachable, 5xx, 408/429) is sent again with
the events committed since, oldest first, after a pause doubling from `nova_send_interval` up
to MAX_BACKOFF; each event is tried at most `attempts` times. An event is dropped only when its
attempts run out, when Nova refuses it (any other 4xx: sending it again gets the same answer)
or when the server stops with it unsent, and each drop is logged as an error with its count.
What Nova accepted is handed to `on_sent` (the server stamps each port's provisioning row with
it, the last step of `alcor port trace`).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Sent = Callable[[list[dict[str, str]], float], Awaitable[None]]  # (events, unix time sent)

MAX_BACKOFF = 60.0  # seconds between two sends while Nova keeps failing
TRANSIENT_CLIENT_ERRORS = (408, 429)  # 4xx answers worth sending again


def events_for(kind: str, payload: dict[str, Any]) -> list[dict[str, str]]:
    """Nova events for one committed change (none for ports that are not a VM's)."""
    if not str(payload.get("device_owner") or "").startswith("compute:"):
        return []
    if not payload.get("device_id"):
        return []
    base = {"server_uuid": payload["device_id"], "tag": payload["port_id"]}
    if kind == "port_deleted":
        return [{**base, "name": "network-vif-deleted", "status": "completed"}]
    if kind == "port_binding_plugged":  # on a live migration's destination (inactive binding)
        return [{**base, "name": "network-vif-plugged", "status": "completed"}]
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

    def __init__(
        self,
        url: str,
        token: str = "",
        interval: float = 2.0,
        attempts: int = 6,
        on_sent: Sent | None = None,
    ) -> None:
        self.on_sent = on_sent
        self.url = url.rstrip("/") + "/os-server-external-events"
        self.token = token
        self.interval = interval
        self.attempts = attempts
        self._pending: list[tuple[dict[str, str], int]] = []  # (event, attempts made), in order
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._sending: asyncio.Future[None] | None = None  # the POST under way, if any
        self._failures = 0  # sends failed in a row: the backoff
        self.sent = 0
        self.dropped = 0

    def on_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Database event listener (runs in the writer thread)."""
        batch = [(e, 0) for kind, payload in events for e in events_for(kind, payload)]
        if batch:
            with self._lock:
                self._pending.extend(batch)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sending is not None:
            await self._sending  # a POST under way finishes its bookkeeping
        await self.flush()
        with self._lock:
            unsent, self._pending = self._pending, []
        if unsent:
            self._drop(len(unsent), "the server stopped")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(min(self.interval * 2**self._failures, MAX_BACKOFF))
            await self.flush()

    async def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            # Shielded: stopping the sender mid-POST must not lose the batch's outcome.
            self._sending = asyncio.ensure_future(self._send(batch))
            await asyncio.shield(self._sending)

    async def _send(self, batch: list[tuple[dict[str, str], int]]) -> None:
        try:
            await asyncio.to_thread(self._post, [event for event, _ in batch])
        except (OSError, http.client.HTTPException) as exc:  # unreachable, refused, cut off
            self._failed(batch, exc)
        else:
            self.sent += len(batch)
            self._failures = 0
            if self.on_sent is not None:
                try:
                    await self.on_sent([event for event, _ in batch], time.time())
                except Exception:
                    log.exception("recording %d Nova notifications failed", len(batch))

    def _failed(self, batch: list[tuple[dict[str, str], int]], exc: Exception) -> None:
        self._failures += 1
        refused = (
            isinstance(exc, urllib.error.HTTPError)
            and exc.code < 500
            and exc.code not in TRANSIENT_CLIENT_ERRORS
        )
        again = [] if refused else [(e, n + 1) for e, n in batch if n + 1 < self.attempts]
        if len(again) < len(batch):
            why = f"Nova refused them: {exc}" if refused else f"{self.attempts} attempts: {exc}"
            self._drop(len(batch) - len(again), why)
        if again:
            log.warning("Nova notification of %d events failed, will retry: %s", len(again), exc)
            with self._lock:
                self._pending[:0] = again  # before the events committed since: order kept

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        log.error("Nova notification: %d events dropped after %s", count, why)

    def _post(self, batch: list[dict[str, str]]) -> None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        body = json.dumps({"events": batch}).encode()
        req = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
