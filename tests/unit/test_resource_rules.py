"""Pure rules of the resource layer: value kinds, query parsing, subnet pools, SLAAC."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alcor import errors
from alcor.config import ServerSettings
from alcor.resources import kinds
from alcor.resources.query import ListQuery
from alcor.resources.rules.network import NetworkHooks, flat_networks
from alcor.resources.rules.port import eui64
from alcor.resources.rules.subnet import default_pools, pools_from_api


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (kinds.MacAddress(), "FA-16-3E-00-00-01", "fa:16:3e:00:00:01"),
        (kinds.Cidr(), "2001:DB8::/64", "2001:db8::/64"),
        (kinds.IpAddress(), "2001:DB8::1", "2001:db8::1"),
        (kinds.Bool(), "True", True),
        (kinds.IntChoice(4, 6), 6, 6),
        (kinds.Enum("IPv4", "IPv6", ignore_case=True), "ipv4", "IPv4"),
        (
            kinds.Uuid(),
            "6E9F0F2C-5D8B-4B1B-9D1A-1C1D1E1F2A3B",
            "6e9f0f2c-5d8b-4b1b-9d1a-1c1d1e1f2a3b",
        ),
    ],
)
def test_kinds_canonicalise(kind: kinds.Kind, value: object, expected: object) -> None:
    assert kind.check("attr", value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (kinds.MacAddress(), "01:00:5e:00:00:01"),  # multicast
        (kinds.MacAddress(), "00:00:00:00:00:00"),
        (kinds.Cidr(), "10.0.0.5/24"),  # host bits set: Neutron refuses
        (kinds.Cidr(), "10.0.0.0"),
        (kinds.IpAddress(), "010.0.0.1"),
        (kinds.IpAddress(), 17),
        (kinds.Bool(), "maybe"),
        (kinds.Int(0, 10), True),
        (kinds.Int(0, 10), 11),
        (kinds.Str(3), "long"),
        (kinds.IntChoice(4, 6), 5),
        (kinds.Uuid(), "not-a-uuid"),
    ],
)
def test_kinds_refuse(kind: kinds.Kind, value: object) -> None:
    with pytest.raises(errors.InvalidInput):
        kind.check("attr", value)


def test_query_parsing_pairs_sorts_and_ors_filters() -> None:
    q = ListQuery.from_params(
        [
            ("name", "a"),
            ("name", "b"),
            ("sort_key", "name"),
            ("sort_dir", "desc"),
            ("sort_key", "id"),
            ("sort_dir", "asc"),
            ("fields", "id,name"),
            ("limit", "5"),
            ("marker", "m"),
        ]
    )
    assert q.filters == {"name": ["a", "b"]}
    assert q.sorts == [("name", False), ("id", True)]
    assert q.fields == ["id", "name"]
    assert (q.limit, q.marker) == (5, "m")
    with pytest.raises(errors.BadRequest):
        ListQuery.from_params([("sort_key", "a"), ("sort_key", "b"), ("sort_dir", "asc")])
    with pytest.raises(errors.BadRequest):
        ListQuery.from_params([("limit", "x")])


def test_default_pools_follow_neutron() -> None:
    v4 = ipaddress.ip_network("10.0.0.0/24")
    assert default_pools(v4, "10.0.0.1") == [(int(v4[2]), int(v4[254]))]
    assert default_pools(v4, "10.0.0.100") == [
        (int(v4[1]), int(v4[99])),
        (int(v4[101]), int(v4[254])),
    ]
    assert default_pools(v4, None) == [(int(v4[1]), int(v4[254]))]
    v6 = ipaddress.ip_network("2001:db8::/64")
    assert default_pools(v6, "2001:db8::1") == [(int(v6[2]), int(v6[-1]))]
    assert default_pools(ipaddress.ip_network("10.0.0.0/31"), None) == []


@given(st.integers(8, 30), st.data())
def test_default_pools_exclude_gateway_and_stay_inside(prefix: int, data: st.DataObject) -> None:
    net = ipaddress.ip_network(f"10.0.0.0/{prefix}")
    gw_index = data.draw(st.integers(1, net.num_addresses - 2))
    gw = net[gw_index]
    ranges = default_pools(net, str(gw))
    total = sum(b - a + 1 for a, b in ranges)
    assert total == net.num_addresses - 3
    for a, b in ranges:
        assert int(net.network_address) < a <= b < int(net.broadcast_address)
        assert not a <= int(gw) <= b


def test_pools_from_api_validation() -> None:
    net = ipaddress.ip_network("10.0.0.0/24")
    ok = pools_from_api(
        [{"start": "10.0.0.50", "end": "10.0.0.60"}, {"start": "10.0.0.10", "end": "10.0.0.20"}],
        net,
    )
    assert ok == [(int(net[10]), int(net[20])), (int(net[50]), int(net[60]))]
    for bad in (
        [{"start": "10.0.0.0", "end": "10.0.0.5"}],
        [{"start": "10.0.0.10", "end": "10.0.1.5"}],
        [{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.15", "end": "10.0.0.30"}],
        [{"start": "10.0.0.30", "end": "10.0.0.20"}],
    ):
        with pytest.raises(errors.BadRequest):
            pools_from_api(bad, net)


def test_eui64_slaac_address() -> None:
    assert eui64("2001:db8::/64", "fa:16:3e:11:22:33") == "2001:db8::f816:3eff:fe11:2233"


@pytest.mark.parametrize(
    ("allowed", "physnet", "reason"),
    [
        ("", "physnet1", "Flat provider networks are disabled"),
        (
            "physnet1, physnet2",
            "other",
            "physical_network 'other' unknown for flat provider network",
        ),
    ],
)
def test_flat_networks_setting_limits_physical_networks(
    allowed: str, physnet: str, reason: str
) -> None:
    """ML2's `flat_networks`: checked before anything is reserved (so no database here)."""
    hooks = NetworkHooks(ServerSettings(flat_networks=allowed))
    item = {"id": "n", "provider:network_type": "flat", "provider:physical_network": physnet}
    with pytest.raises(errors.InvalidInput) as exc:
        hooks.before_create(None, None, item)  # type: ignore[arg-type]
    assert exc.value.message == f"Invalid input for operation: {reason}."
    assert flat_networks("*, physnet1") is None
