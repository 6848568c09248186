"""Which hosts a security group's change goes to (`build.hosts_in_groups`): read from its
members, or for a group of more than `MEMBERS_READ` from the region's hosts; the same answer
either way, on both databases."""

from __future__ import annotations

import pytest

from alcor.resources.declarations.port import port_bindings
from alcor.southbound import build
from alcor.store.db import Database, UnitOfWork
from tests.scale import southbound_rows as rows


@pytest.mark.parametrize("members", [4, build.MEMBERS_READ + 2], ids=["few", "crowded"])
def test_a_groups_hosts_are_those_of_its_bound_members_and_their_inactive_bindings(
    db_url: str, members: int
) -> None:
    db = Database(db_url)
    try:
        rows.create_schema(db)
        nid, sid = db.write_sync(rows.new_network, 160, "10.64.0.0/16")
        web = db.write_sync(rows.new_group)
        other = db.write_sync(rows.new_group, "other")

        def fill(uow: UnitOfWork) -> None:
            # members on h1 and h2 only; h2 and h3 also hold ports of the other group alone
            ids = [
                rows.new_port(uow, nid, sid, i, ("h1", "h2")[i % 2], (web,)) for i in range(members)
            ]
            rows.new_port(uow, nid, sid, members, "", (web,))  # unbound: no host
            rows.new_port(uow, nid, sid, members + 1, "h2", (other,))
            outsider = rows.new_port(uow, nid, sid, members + 2, "h3", (other,))
            rows.new_port(uow, nid, sid, members + 3, "h5")  # in no group
            # inactive bindings (live migrations in flight): a member's to h4, a non-member's
            # to h6
            uow.execute(
                port_bindings.insert(),
                [
                    {
                        "port_id": port_id,
                        "host": host,
                        "vnic_type": "normal",
                        "profile": {},
                        "vif_type": "ovs",
                        "vif_details": {},
                        "state": "INACTIVE",
                    }
                    for port_id, host in ((ids[0], "h4"), (outsider, "h6"))
                ],
            )

        db.write_sync(fill)
        found = db.read_sync(build.hosts_in_groups, [web, other, "no-such-group"])
        assert found == {web: {"h1", "h2", "h4"}, other: {"h2", "h3", "h6"}}
        assert db.read_sync(build.hosts_in_groups, [web]) == {web: {"h1", "h2", "h4"}}
    finally:
        db.close()
