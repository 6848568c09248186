"""Address sets over a real nats-server: a membership change reaches exactly the hosts that
follow the group, once each; a host fetches a group's full set by RPC."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alcor.southbound import build
from alcor.southbound.nats_server import NatsServer
from alcor.southbound.protocol import chunks, subjects
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.sim import Fleet
from alcor.store.db import Database
from tests.scale import southbound_rows as rows
from tests.scale.conftest import converged, settings, start_southbound, wait_for


def test_a_join_reaches_exactly_the_following_hosts_once(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    async def main() -> None:
        service = await start_southbound(sb_db, settings(nats_srv, tmp_path))
        fleet = Fleet(nats_srv.url, 4, "asg")
        await fleet.start()
        try:
            web = sb_db.write_sync(rows.new_group, "web")
            admins = sb_db.write_sync(rows.new_group, "admins")
            other = sb_db.write_sync(rows.new_group, "other")
            sb_db.write_sync(rows.new_rule, web, {"remote_group_id": admins})
            nid, sid = sb_db.write_sync(rows.new_network, 230)
            for i, (host, group) in enumerate(
                [
                    ("asg-00000", web),
                    ("asg-00001", web),
                    ("asg-00002", admins),
                    ("asg-00003", other),
                ]
            ):
                sb_db.write_sync(rows.new_port, nid, sid, i, host, (group,))
            await converged(sb_db, fleet)
            following = {h for h, host in fleet.hosts.items() if admins in host.following}
            assert following == {"asg-00000", "asg-00001"}
            before = fleet.group_received
            joined = sb_db.write_sync(rows.new_port, nid, sid, 9, "asg-00003", (admins,))
            await converged(sb_db, fleet)
            # ports converge on the host subject; the address set travels apart on the group's
            await wait_for(lambda: joined in fleet.group_views[admins].members)
            seq = fleet.group_views[admins].seq
            await wait_for(lambda: len(fleet.group_applies.get((admins, seq), {})) == 2)
            assert set(fleet.group_applies[(admins, seq)]) == following
            assert fleet.group_received - before == 2  # one delivery per following host
        finally:
            await fleet.stop()
            await service.stop()

    asyncio.run(main())


def test_a_groups_full_address_set_by_rpc(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    async def main() -> None:
        service = await start_southbound(sb_db, settings(nats_srv, tmp_path))
        try:
            group = sb_db.write_sync(rows.new_group)
            nid, sid = sb_db.write_sync(rows.new_network, 231)
            members = [
                sb_db.write_sync(rows.new_port, nid, sid, i, f"h{i % 3}", (group,))
                for i in range(50)
            ]
            want = sb_db.read_sync(build.address_set, group)
            await wait_for(lambda: sb_db.read_sync(build.address_set, group).seq > 0)
            assert service.nc is not None
            req = pb.AddressSetRequest(group_id=group, host_id="h0").SerializeToString()
            got = await chunks.request_address_set(service.nc, subjects.RPC_ADDRESS_SET, req, 10.0)
            assert got.group_id == group and got.seq > 0 and got.chunks == 1
            assert {m.port_id for m in got.members} == set(members)
            assert {m.port_id: list(m.ips) for m in got.members} == {
                m.port_id: list(m.ips) for m in want.members
            }
        finally:
            await service.stop()

    asyncio.run(main())
