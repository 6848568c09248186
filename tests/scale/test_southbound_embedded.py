"""The embedded nats-server: started by the service when no URL is configured, supervised."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alcor.config import ServerSettings
from alcor.southbound.nats_server import add_users, free_port
from alcor.southbound.protocol.auth import NatsAuth
from alcor.southbound.service import Southbound
from alcor.southbound.sim import Fleet
from alcor.store.db import Database
from tests.scale import southbound_rows as rows
from tests.scale.conftest import wait_for


def test_embedded_nats_is_started_restarted_and_stopped(sb_db: Database, tmp_path: Path) -> None:
    async def main() -> None:
        conf = ServerSettings(nats_url="", nats_port=free_port(), state_dir=str(tmp_path))
        service = Southbound(sb_db, conf)
        await service.start()
        embedded = service.nats_server
        assert embedded is not None and embedded.alive()
        (creds,) = add_users(embedded.work_dir, "fleets", ["emb"], tmp_path / "creds")
        fleet = Fleet(service.nats_url, 1, "emb", auth=NatsAuth(str(creds)))
        await fleet.start()
        try:
            nid, sid = sb_db.write_sync(rows.new_network, 400)
            embedded.kill()  # a crash: the supervisor must bring it back
            await wait_for(embedded.alive, timeout=10, what="nats-server restarted")
            pid = sb_db.write_sync(rows.new_port, nid, sid, 1, "emb-00000")
            await wait_for(
                lambda: rows.port_row(sb_db, pid)["status"] == "ACTIVE",
                timeout=20,
                what="ACTIVE after the restart",
            )
            assert embedded.restarts == 1
        finally:
            await fleet.stop()
            await service.stop()
        assert not embedded.alive()

    asyncio.run(main())
