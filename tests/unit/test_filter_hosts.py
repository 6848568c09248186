"""Which hosts a security group's or a network ACL's change goes to: a group's from its members
and their inactive bindings (`build.hosts_in_groups`); an ACL's by what it is the ACL of, each
way of finding them (`build.hosts_using_acls`). On both databases."""

from __future__ import annotations

from alcor.resources.declarations.port import port_bindings
from alcor.southbound import build
from alcor.store.db import Database, UnitOfWork
from tests.scale import southbound_rows as rows
from tests.unit.test_compiler import PORT, SUBNET, _acl_network, _associate

_INACTIVE = {"vnic_type": "normal", "profile": {}, "vif_type": "ovs", "vif_details": {}}


def test_a_groups_hosts_are_those_of_its_bound_members_and_their_inactive_bindings(
    sb_db: Database,
) -> None:
    members = 4
    nid, sid = sb_db.write_sync(rows.new_network, 160, "10.64.0.0/16")
    web = sb_db.write_sync(rows.new_group)
    other = sb_db.write_sync(rows.new_group, "other")

    def fill(uow: UnitOfWork) -> None:
        # members on h1 and h2 only; h2 and h3 also hold ports of the other group alone
        ids = [rows.new_port(uow, nid, sid, i, ("h1", "h2")[i % 2], (web,)) for i in range(members)]
        rows.new_port(uow, nid, sid, members, "", (web,))  # unbound: no host
        rows.new_port(uow, nid, sid, members + 1, "h2", (other,))
        outsider = rows.new_port(uow, nid, sid, members + 2, "h3", (other,))
        rows.new_port(uow, nid, sid, members + 3, "h5")  # in no group
        # inactive bindings (live migrations in flight): a member's to h4, a non-member's
        # to h6
        uow.execute(
            port_bindings.insert(),
            [
                {"port_id": port_id, "host": host, "state": "INACTIVE", **_INACTIVE}
                for port_id, host in ((ids[0], "h4"), (outsider, "h6"))
            ],
        )

    sb_db.write_sync(fill)
    found = sb_db.read_sync(build.hosts_in_groups, [web, other, "no-such-group"])
    assert found == {web: {"h1", "h2", "h4"}, other: {"h2", "h3", "h6"}}
    assert sb_db.read_sync(build.hosts_in_groups, [web]) == {web: {"h1", "h2", "h4"}}


def test_an_acls_hosts_are_those_of_the_ports_it_is_the_acl_of(sb_db: Database) -> None:
    """A port's ACL is its own, else its first subnet's, else its network's default."""
    nid, default, sub_a, sub_b = _acl_network(sb_db, 161)
    of_port, of_subnet = sb_db.write_sync(rows.new_acl, nid), sb_db.write_sync(rows.new_acl, nid)

    def fill(uow: UnitOfWork) -> None:
        on_a = [rows.new_port(uow, nid, sub_a, i, f"h{i}") for i in (1, 2, 3)]
        on_b = [rows.new_port(uow, nid, sub_b, i, f"h{i}") for i in (4, 5)]
        # h3's one port has an ACL of its own, so does one of h4's (h4 keeps its
        # subnet's through the other); h5's is on the subnet with an ACL
        uow.execute(
            PORT.table.insert(),
            [{"port_id": p, "network_acl_id": of_port} for p in (on_a[2], on_b[0])],
        )
        rows.new_port(uow, nid, sub_b, 6, "h4")
        uow.execute(SUBNET.table.insert().values(subnet_id=sub_b, network_acl_id=of_subnet))
        uow.execute(
            port_bindings.insert().values(port_id=on_a[0], host="h9", state="INACTIVE", **_INACTIVE)
        )

    sb_db.write_sync(fill)
    found = sb_db.read_sync(build.hosts_using_acls, [default, of_port, of_subnet, "nobody"])
    assert found == {
        default: {"h1", "h2", "h9"},
        of_port: {"h3", "h4"},
        of_subnet: {"h4", "h5"},
    }
    # the default associated with a subnet explicitly is still the default there
    sb_db.write_sync(_associate, default, nid, SUBNET, sub_a)
    sb_db.write_sync(lambda uow: uow.execute(PORT.table.delete()))
    found = sb_db.read_sync(build.hosts_using_acls, [default])
    assert found == {default: {"h1", "h2", "h3", "h9"}}


def test_an_acl_of_a_crowded_subnet_finds_its_hosts_from_the_networks(sb_db: Database) -> None:
    nid, _default, sub_a, sub_b = _acl_network(sb_db, 162)
    of_subnet, other = sb_db.write_sync(rows.new_acl, nid), sb_db.write_sync(rows.new_acl, nid)

    def fill(uow: UnitOfWork) -> None:
        for i in range(build.HOLDERS_READ + 1):
            rows.new_port(uow, nid, sub_b, i, ("h1", "h2")[i % 2])
        mine = rows.new_port(uow, nid, sub_a, 5000, "h4")  # its own ACL is the subnet's
        theirs = rows.new_port(uow, nid, sub_b, 5001, "h3")  # its own ACL is another
        uow.execute(SUBNET.table.insert().values(subnet_id=sub_b, network_acl_id=of_subnet))
        uow.execute(
            PORT.table.insert(),
            [
                {"port_id": mine, "network_acl_id": of_subnet},
                {"port_id": theirs, "network_acl_id": other},
            ],
        )

    sb_db.write_sync(fill)
    found = sb_db.read_sync(build.hosts_using_acls, [of_subnet, other])
    assert found == {of_subnet: {"h1", "h2", "h4"}, other: {"h3"}}
