"""Who may do what, against a real Keystone: every collection x create/show/list/update/delete
x the project's owner, a member of another project, the project's reader, the cloud admin and
Nova's service user, with Neutron's default policy.

The expectations are generated from a few facts declared per kind (is it made inside another
item of the owner's, may the service role read or change it), by Neutron's rules: a member
of another project never learns the item exists (404); a reader reads but changes nothing
(403); the service role reads networks, subnets and ports and changes only ports.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alcor.lab.server_process import AlcorServer
from tests.api.authz_support import ACTORS, Caller
from tests.api.conftest import neutron_error

_counter = itertools.count(1)


@dataclasses.dataclass
class Env:
    callers: dict[str, Caller]
    demo: str
    network: str = ""  # the owner's network, for subnets and ports
    group: str = ""  # the owner's security group, for rules
    granted: str = ""  # the owner's network that RBAC grants are made on
    external: str = ""  # the admin's external network, for floating IPs
    targets: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    make: Callable[[Env], dict[str, Any]]  # a fresh create body's attributes
    update: dict[str, Any] | None = dataclasses.field(default_factory=lambda: {"name": "renamed"})
    child: bool = False  # made inside an item of the owner's: another project gets 404
    service_reads: bool = False
    service_writes: bool = False
    service_creates: int = 403

    @property
    def path(self) -> str:
        return "/v2.0/" + self.plural.replace("_", "-")

    def body(self, env: Env, **extra: Any) -> dict[str, Any]:
        return {self.name: {**self.make(env), **extra}}


def _cidr(env: Env) -> dict[str, Any]:
    n = next(_counter)
    return {"network_id": env.network, "ip_version": 4, "cidr": f"10.{n // 250}.{n % 250}.0/24"}


def _rule(env: Env) -> dict[str, Any]:
    n = 1000 + next(_counter)
    return {
        "security_group_id": env.group,
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": n,
        "port_range_max": n,
    }


def _grant(env: Env) -> dict[str, Any]:
    return {
        "object_type": "network",
        "object_id": env.granted,
        "action": "access_as_shared",
        "target_tenant": uuid.uuid4().hex,
    }


KINDS = [
    Kind("network", "networks", lambda env: {"name": "n"}, service_reads=True),
    Kind("subnet", "subnets", _cidr, child=True, service_reads=True),
    Kind(
        "port",
        "ports",
        lambda env: {"network_id": env.network},
        child=True,
        service_reads=True,
        service_writes=True,
        service_creates=201,
    ),
    Kind("security_group", "security_groups", lambda env: {"name": "g"}),
    Kind(
        "security_group_rule",
        "security_group_rules",
        _rule,
        update=None,
        child=True,
        service_creates=404,
    ),
    Kind("router", "routers", lambda env: {"name": "r"}),
    Kind(
        "floatingip",
        "floatingips",
        lambda env: {"floating_network_id": env.external},
        update={"description": "d"},
    ),
    Kind("rbac_policy", "rbac_policies", _grant, update=None, child=True),
]


def expected(kind: Kind, actor: str, op: str) -> int:
    ok = {"create": 201, "show": 200, "update": 200, "delete": 204}[op]
    if actor in ("owner", "admin"):
        return ok
    if actor == "other":
        return (404 if kind.child else 201) if op == "create" else 404
    if actor == "reader":
        return ok if op == "show" else 403
    if op == "create":
        return kind.service_creates
    if not kind.service_reads:
        return 404
    return ok if op == "show" or kind.service_writes else 403


@pytest.fixture(scope="module")
def env(keystone: Any) -> Iterator[Env]:
    with AlcorServer(extra_env=keystone.server_env()) as srv:
        callers = {actor: Caller(keystone, srv.url, user) for actor, user in ACTORS.items()}
        owner, admin = callers["owner"], callers["admin"]
        e = Env(callers, keystone.projects["demo"])
        e.network = owner.made("networks", {"network": {"name": "base"}})["id"]
        owner.made("subnets", {"subnet": _cidr(e)})
        e.group = owner.made("security-groups", {"security_group": {"name": "base"}})["id"]
        e.granted = owner.made("networks", {"network": {"name": "granted"}})["id"]
        e.external = admin.made("networks", {"network": {"name": "ext", "router:external": True}})[
            "id"
        ]
        admin.made(
            "subnets",
            {"subnet": {"network_id": e.external, "ip_version": 4, "cidr": "203.0.113.0/24"}},
        )
        yield e


def _target(env: Env, kind: Kind) -> dict[str, Any]:
    """The owner's item that every actor shows, lists, updates and fails to delete."""
    if kind.name not in env.targets:
        env.targets[kind.name] = env.callers["owner"].made(kind.path[6:], kind.body(env))
    return env.targets[kind.name]


def _check(resp: Any, code: int) -> None:
    if code >= 400:
        neutron_error(resp, code)
    else:
        assert resp.status_code == code, resp.text


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.plural)
def test_matrix(env: Env, kind: Kind, actor: str) -> None:
    me = env.callers[actor]
    extra = {"project_id": env.demo} if actor == "admin" else {}
    _check(me.post(kind.path, kind.body(env, **extra)), expected(kind, actor, "create"))

    item = _target(env, kind)
    _check(me.get(f"{kind.path}/{item['id']}"), expected(kind, actor, "show"))
    listed = me.get(kind.path)
    assert listed.status_code == 200, listed.text
    seen = {i["id"] for i in listed.json()[kind.plural]}
    assert (item["id"] in seen) == (expected(kind, actor, "show") == 200)
    if kind.update is not None:
        resp = me.put(f"{kind.path}/{item['id']}", {kind.name: kind.update})
        _check(resp, expected(kind, actor, "update"))

    code = expected(kind, actor, "delete")
    victim = item if code != 204 else env.callers["owner"].made(kind.path[6:], kind.body(env))
    _check(me.delete(f"{kind.path}/{victim['id']}"), code)
