"""Keystone tokens, Neutron's policy on shared and external networks, RBAC grants, what each
role sees, a policy file, and the `openstack` CLI with password auth: against a real Keystone
(tests/support/keystone.py) and an `alcor server` with `auth_strategy = keystone`."""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer, free_port
from tests.api.authz_support import ACTORS, Caller
from tests.api.conftest import neutron_error
from tests.api.test_cli import OPENSTACK
from tests.support.keystone import PASSWORD, Keystone

CACHE_TIME = 2.0  # the server's token cache: how long a revoked token may still work


class Cloud:
    """The server, a caller per role, and the admin's shared and external networks."""

    def __init__(self, ks: Keystone, srv: AlcorServer) -> None:
        self.ks, self.srv = ks, srv
        self.by = {actor: Caller(ks, srv.url, user) for actor, user in ACTORS.items()}
        admin = self.by["admin"]
        self.shared = admin.made("networks", {"network": {"name": "shared", "shared": True}})
        self.shared_subnet = admin.made("subnets", _subnet(self.shared["id"], "10.10.0.0/24"))
        self.external = admin.made(
            "networks", {"network": {"name": "ext", "router:external": True}}
        )
        admin.made("subnets", _subnet(self.external["id"], "203.0.113.0/24"))


def _grant(
    kind: str, object_id: str, target: str, action: str = "access_as_shared"
) -> dict[str, Any]:
    return {
        "rbac_policy": {
            "object_type": kind,
            "object_id": object_id,
            "action": action,
            "target_tenant": target,
        }
    }


def _subnet(network_id: str, cidr: str) -> dict[str, Any]:
    return {"subnet": {"network_id": network_id, "cidr": cidr, "ip_version": 4}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cloud(keystone: Keystone, request: pytest.FixtureRequest) -> Iterator[Cloud]:
    """On both databases: the grants' queries (what a grant lets in) are the new SQL here."""
    url = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg_server")
        pg._db_counter += 1
        url = pg.create_database(f"auth_{pg._db_counter}")
    env = keystone.server_env(cache_time=CACHE_TIME)
    with AlcorServer(database_url=url, extra_env=env) as srv:
        yield Cloud(keystone, srv)


def _until(what: Any, timeout: float = 30.0) -> None:
    """Wait for `what()` to hold (a cache lapsing, a token expiring)."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.2)


# -- tokens ------------------------------------------------------------------------------


def test_missing_and_garbage_tokens_are_401(cloud: Cloud) -> None:
    for headers in ({}, {"X-Auth-Token": "gAAAAAgarbage"}, {"X-Auth-Token": "x" * 5000}):
        resp = httpx.get(f"{cloud.srv.url}/v2.0/networks", headers=headers)
        neutron_error(resp, 401, "HTTPUnauthorized")
        assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.ks.url[:-3]}"'
    assert httpx.get(f"{cloud.srv.url}/").status_code == 200  # versions need no token


def test_a_token_becomes_the_context(cloud: Cloud) -> None:
    made = cloud.by["owner"].made("networks", {"network": {"name": "mine"}})
    assert made["project_id"] == cloud.ks.projects["demo"]


def test_revoked_token_is_refused_within_the_cache_time(cloud: Cloud) -> None:
    token = cloud.ks.token("member1")
    url = f"{cloud.srv.url}/v2.0/networks"
    assert httpx.get(url, headers={"X-Auth-Token": token}).status_code == 200
    cloud.ks.revoke(token)
    _until(lambda: httpx.get(url, headers={"X-Auth-Token": token}).status_code == 401)


def test_expired_token_is_refused(cloud: Cloud) -> None:
    """A token of an application credential expires with it (Keystone cuts it short)."""
    ks = cloud.ks
    uid = ks.users["member1"]
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=4)
    owner = {"X-Auth-Token": ks.token("member1")}
    cred = httpx.post(
        f"{ks.url}/users/{uid}/application_credentials",
        headers=owner,
        json={
            "application_credential": {
                "name": f"short-{time.time()}",
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            }
        },
    ).json()["application_credential"]
    issued = httpx.post(
        f"{ks.url}/auth/tokens?nocatalog",
        json={
            "auth": {
                "identity": {
                    "methods": ["application_credential"],
                    "application_credential": {"id": cred["id"], "secret": cred["secret"]},
                }
            }
        },
    )
    token = issued.headers["X-Subject-Token"]
    url = f"{cloud.srv.url}/v2.0/networks"
    assert httpx.get(url, headers={"X-Auth-Token": token}).status_code == 200
    _until(lambda: httpx.get(url, headers={"X-Auth-Token": token}).status_code == 401)


def test_service_token_beside_the_user_token(cloud: Cloud) -> None:
    """keystonemiddleware's X-Service-Token: one Keystone refuses is a 401 (even beside a
    good user token); a good one leaves the caller the user."""
    ks, url = cloud.ks, f"{cloud.srv.url}/v2.0/networks"
    user = ks.token("member1")
    revoked = ks.token("nova")
    ks.revoke(revoked)
    for service in ("gAAAAAgarbage", revoked):
        refused = httpx.get(url, headers={"X-Auth-Token": user, "X-Service-Token": service})
        neutron_error(refused, 401, "HTTPUnauthorized")
    vouched = {"X-Auth-Token": user, "X-Service-Token": ks.token("nova")}
    made = httpx.post(url, headers=vouched, json={"network": {"name": "by-nova"}})
    assert made.status_code == 201, made.text
    assert made.json()["network"]["project_id"] == ks.projects["demo"]


def test_service_token_vouches_for_an_expired_user_token(tmp_path: Path) -> None:
    """Nova finishing a user's long operation: the user's token has expired, Nova's service
    token lets it through (`allow_expired`); a member's token as the service token does not."""
    ks = Keystone(expiration=10).start()
    try:
        with AlcorServer(extra_env=ks.server_env()) as srv:
            url = f"{srv.url}/v2.0/networks"
            user = ks.token("member1")
            assert httpx.get(url, headers={"X-Auth-Token": user}).status_code == 200
            _until(lambda: httpx.get(url, headers={"X-Auth-Token": user}).status_code == 401)
            not_a_service = {"X-Auth-Token": user, "X-Service-Token": ks.token("member2")}
            neutron_error(httpx.get(url, headers=not_a_service), 401)
            vouched = {"X-Auth-Token": user, "X-Service-Token": ks.token("nova")}
            made = httpx.post(url, headers=vouched, json={"network": {"name": "late"}})
            assert made.status_code == 201, made.text
            assert made.json()["network"]["project_id"] == ks.projects["demo"]
    finally:
        ks.stop()


def test_keystone_unreachable_is_503() -> None:
    env = {
        "ALCOR_AUTH_STRATEGY": "keystone",
        "ALCOR_KEYSTONE_URL": f"http://127.0.0.1:{free_port()}/v3",  # nothing listens
        "ALCOR_KEYSTONE_PASSWORD": PASSWORD,
    }
    with AlcorServer(extra_env=env) as srv:
        resp = httpx.get(f"{srv.url}/v2.0/networks", headers={"X-Auth-Token": "gAAAAAtoken"})
        body = neutron_error(resp, 503, "ServiceUnavailable")
        assert "identity service" in body["message"]


def test_system_scoped_token_is_refused(cloud: Cloud) -> None:
    token = cloud.ks.token("admin", system=True)
    resp = httpx.get(f"{cloud.srv.url}/v2.0/networks", headers={"X-Auth-Token": token})
    neutron_error(resp, 403)


# -- shared and external networks ------------------------------------------------------------


def test_members_may_not_share_or_externalise(cloud: Cloud) -> None:
    owner = cloud.by["owner"]
    for attrs, rule in (
        ({"shared": True}, "create_network:shared"),
        ({"router:external": True}, "create_network:router:external"),
        ({"provider:network_type": "flat"}, "create_network:provider:network_type"),
    ):
        resp = owner.post("/v2.0/networks", {"network": {"name": "x", **attrs}})
        body = neutron_error(resp, 403, "PolicyNotAuthorized")
        assert rule in body["message"]
    mine = owner.made("networks", {"network": {"name": "mine"}})
    resp = owner.put(f"/v2.0/networks/{mine['id']}", {"network": {"shared": True}})
    neutron_error(resp, 403, "PolicyNotAuthorized")


def test_a_shared_network_is_used_not_owned(cloud: Cloud) -> None:
    owner, net, sub = cloud.by["owner"], cloud.shared, cloud.shared_subnet
    seen = owner.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert seen["shared"] is True
    assert "provider:segmentation_id" not in seen
    for method, path, body in (
        ("PUT", f"/v2.0/networks/{net['id']}", {"network": {"name": "mine"}}),
        ("DELETE", f"/v2.0/networks/{net['id']}", None),
        ("PUT", f"/v2.0/subnets/{sub['id']}", {"subnet": {"name": "mine"}}),
        ("DELETE", f"/v2.0/subnets/{sub['id']}", None),
        ("POST", "/v2.0/subnets", _subnet(net["id"], "10.10.9.0/24")),
    ):
        neutron_error(owner.request(method, path, json=body), 403, "PolicyNotAuthorized")

    def port(**attrs: Any) -> httpx.Response:
        return owner.post("/v2.0/ports", {"port": {"network_id": net["id"], **attrs}})

    assert port().status_code == 201
    assert port(fixed_ips=[{"subnet_id": sub["id"]}]).status_code == 201
    for attrs in (
        {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.10.0.50"}]},
        {"mac_address": "fa:16:3e:00:00:01"},
        {"port_security_enabled": False},
        {"allowed_address_pairs": [{"ip_address": "0.0.0.0/0"}]},
        {"device_owner": "network:dhcp"},
        {"binding:host_id": "h1"},
        {"binding:profile": {"a": "b"}},
    ):
        neutron_error(port(**attrs), 403, "PolicyNotAuthorized")
    mine = port().json()["port"]
    for attrs in (
        {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.10.0.51"}]},
        {"mac_address": "fa:16:3e:00:00:02"},
        {"port_security_enabled": False},
        {"device_owner": "network:router_interface"},
    ):
        resp = owner.put(f"/v2.0/ports/{mine['id']}", {"port": attrs})
        neutron_error(resp, 403, "PolicyNotAuthorized")
    router = owner.made("routers", {"router": {"name": "r"}})
    resp = owner.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert "not owned by project" in neutron_error(resp, 400)["message"]


def test_an_external_network_takes_gateways_and_floating_ips(cloud: Cloud) -> None:
    owner, ext = cloud.by["owner"], cloud.external
    assert owner.get(f"/v2.0/networks/{ext['id']}").json()["network"]["router:external"]
    neutron_error(owner.put(f"/v2.0/networks/{ext['id']}", {"network": {"name": "x"}}), 403)
    neutron_error(owner.post("/v2.0/ports", {"port": {"network_id": ext["id"]}}), 403)
    router = owner.made(
        "routers", {"router": {"name": "g", "external_gateway_info": {"network_id": ext["id"]}}}
    )
    assert router["external_gateway_info"]["network_id"] == ext["id"]
    resp = owner.post(
        "/v2.0/routers",
        {"router": {"external_gateway_info": {"network_id": ext["id"], "enable_snat": False}}},
    )
    neutron_error(resp, 403, "PolicyNotAuthorized")
    assert owner.made("floatingips", {"floatingip": {"floating_network_id": ext["id"]}})


def test_an_external_network_with_gateways_stays_external(cloud: Cloud) -> None:
    """Neutron's ExternalNetworkInUse, and the external grants that routers hang on."""
    admin, other = cloud.by["admin"], cloud.by["other"]
    ext = admin.made("networks", {"network": {"name": "ext2", "router:external": True}})
    admin.made("subnets", _subnet(ext["id"], "198.19.1.0/24"))
    url = f"/v2.0/networks/{ext['id']}"
    gateway = {"router": {"external_gateway_info": {"network_id": ext["id"]}}}
    no_gateway: dict[str, Any] = {"router": {"external_gateway_info": {}}}
    mine = admin.made("routers", {"router": {"name": "r-admin", **gateway["router"]}})
    body = neutron_error(admin.put(url, {"network": {"router:external": False}}), 409)
    assert body["type"] == "ExternalNetworkInUse"
    assert ext["id"] in body["message"]
    assert admin.get(url).json()["network"]["router:external"] is True
    wildcard = admin.get("/v2.0/rbac-policies", params={"object_id": ext["id"]}).json()
    (star,) = wildcard["rbac_policies"]
    neutron_error(admin.delete(f"/v2.0/rbac-policies/{star['id']}"), 409, "RbacPolicyInUse")
    assert admin.put(f"/v2.0/routers/{mine['id']}", no_gateway).status_code == 200
    demo2 = cloud.ks.projects["demo2"]
    admin.made("rbac-policies", _grant("network", ext["id"], demo2, "access_as_external"))
    resp = admin.put(url, {"network": {"router:external": False}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["network"]["router:external"] is False
    left = admin.get("/v2.0/rbac-policies", params={"object_id": ext["id"]}).json()
    assert left["rbac_policies"] == []  # every external grant went with the flag
    neutron_error(other.get(url), 404)

    grant = admin.made("rbac-policies", _grant("network", ext["id"], demo2, "access_as_external"))
    assert other.get(url).json()["network"]["router:external"] is True
    theirs = other.made("routers", {"router": {"name": "r-other", **gateway["router"]}})
    grant_url = f"/v2.0/rbac-policies/{grant['id']}"
    neutron_error(admin.delete(grant_url), 409, "RbacPolicyInUse")
    assert admin.put(f"/v2.0/routers/{mine['id']}", gateway).status_code == 200
    assert other.put(f"/v2.0/routers/{theirs['id']}", no_gateway).status_code == 200
    neutron_error(admin.delete(grant_url), 409, "ExternalNetworkInUse")  # the last grant
    assert admin.put(f"/v2.0/routers/{mine['id']}", no_gateway).status_code == 200
    assert admin.delete(grant_url).status_code == 204
    assert admin.get(url).json()["network"]["router:external"] is False


# -- RBAC --------------------------------------------------------------------------------


def test_rbac_grants_a_network_to_one_project(cloud: Cloud) -> None:
    admin, owner, other = cloud.by["admin"], cloud.by["owner"], cloud.by["other"]
    ext_list = admin.get("/v2.0/extensions").json()["extensions"]
    assert {"rbac-policies", "rbac-security-groups"} <= {e["alias"] for e in ext_list}
    net = owner.made("networks", {"network": {"name": "granted"}})
    sub = owner.made("subnets", _subnet(net["id"], "10.20.0.0/24"))
    neutron_error(other.get(f"/v2.0/networks/{net['id']}"), 404, "NetworkNotFound")
    demo2 = cloud.ks.projects["demo2"]
    grant = owner.made(
        "rbac-policies",
        _grant("network", net["id"], demo2),
    )
    assert grant["project_id"] == cloud.ks.projects["demo"]
    seen = other.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert seen["shared"] is True
    assert owner.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is False
    neutron_error(cloud.by["service"].get(f"/v2.0/rbac-policies/{grant['id']}"), 404)
    neutron_error(other.get(f"/v2.0/rbac-policies/{grant['id']}"), 404)
    port = other.made("ports", {"port": {"network_id": net["id"]}})
    assert port["project_id"] == demo2
    router = other.made("routers", {"router": {"name": "r2"}})
    resp = other.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert resp.status_code == 200, resp.text
    neutron_error(other.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}}), 403)
    body = neutron_error(owner.delete(f"/v2.0/rbac-policies/{grant['id']}"), 409)
    assert body["type"] == "RbacPolicyInUse"
    other.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    assert other.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert owner.delete(f"/v2.0/rbac-policies/{grant['id']}").status_code == 204
    neutron_error(other.get(f"/v2.0/networks/{net['id']}"), 404, "NetworkNotFound")


def test_rbac_rules_for_members(cloud: Cloud) -> None:
    owner = cloud.by["owner"]
    net = owner.made("networks", {"network": {"name": "wild"}})
    grant = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared"}
    resp = owner.post("/v2.0/rbac-policies", {"rbac_policy": {**grant, "target_tenant": "*"}})
    neutron_error(resp, 403, "PolicyNotAuthorized")
    resp = owner.post(
        "/v2.0/rbac-policies",
        {
            "rbac_policy": {
                **grant,
                "object_id": cloud.shared["id"],
                "target_tenant": uuid.uuid4().hex,
            }
        },
    )
    assert "do not own" in neutron_error(resp, 400)["message"]
    bad = owner.post("/v2.0/rbac-policies", {"rbac_policy": {**grant, "target_tenant": "p1"}})
    assert neutron_error(bad, 400, "InvalidInput")["message"] == (
        "Invalid input for operation: 'p1' is not a valid target project ID; "
        "expected a UUID or '*'."
    )
    p1, p2 = uuid.uuid4().hex, str(uuid.uuid4())
    made = owner.made("rbac-policies", {"rbac_policy": {**grant, "target_tenant": p1}})
    again = owner.post("/v2.0/rbac-policies", {"rbac_policy": {**grant, "target_tenant": p1}})
    neutron_error(again, 409, "DuplicateRbacPolicy")
    resp = owner.post(
        "/v2.0/rbac-policies",
        {
            "rbac_policy": {
                **grant,
                "object_type": "security_group",
                "action": "access_as_external",
                "target_tenant": p1,
            }
        },
    )
    neutron_error(resp, 400, "InvalidActionForType")
    moved = owner.put(f"/v2.0/rbac-policies/{made['id']}", {"rbac_policy": {"target_tenant": p2}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["rbac_policy"]["target_tenant"] == p2


def test_admin_wildcard_grant_is_the_shared_flag(cloud: Cloud) -> None:
    admin, other = cloud.by["admin"], cloud.by["other"]
    net = admin.made("networks", {"network": {"name": "later-shared"}})
    neutron_error(other.get(f"/v2.0/networks/{net['id']}"), 404)
    grant = admin.made(
        "rbac-policies",
        _grant("network", net["id"], "*"),
    )
    assert other.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is True
    assert admin.delete(f"/v2.0/rbac-policies/{grant['id']}").status_code == 204
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["shared"] is False
    shared = admin.get("/v2.0/rbac-policies", params={"object_id": cloud.shared["id"]}).json()[
        "rbac_policies"
    ]
    assert [(g["action"], g["target_tenant"]) for g in shared] == [("access_as_shared", "*")]


def test_rbac_shares_a_security_group(cloud: Cloud) -> None:
    owner, other = cloud.by["owner"], cloud.by["other"]
    group = owner.made("security-groups", {"security_group": {"name": "web"}})
    neutron_error(other.get(f"/v2.0/security-groups/{group['id']}"), 404)
    grant = owner.made(
        "rbac-policies",
        _grant("security_group", group["id"], cloud.ks.projects["demo2"]),
    )
    seen = other.get(f"/v2.0/security-groups/{group['id']}").json()["security_group"]
    assert seen["shared"] is True
    neutron_error(
        other.put(f"/v2.0/security-groups/{group['id']}", {"security_group": {"name": "x"}}),
        403,
    )
    net = other.made("networks", {"network": {"name": "n2"}})
    other.made("subnets", _subnet(net["id"], "10.30.0.0/24"))
    port = other.made(
        "ports", {"port": {"network_id": net["id"], "security_groups": [group["id"]]}}
    )
    neutron_error(owner.delete(f"/v2.0/rbac-policies/{grant['id']}"), 409, "RbacPolicyInUse")
    assert other.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert owner.delete(f"/v2.0/rbac-policies/{grant['id']}").status_code == 204


# -- what each role sees --------------------------------------------------------------------


def test_fields_by_role(cloud: Cloud) -> None:
    owner, admin, nova = cloud.by["owner"], cloud.by["admin"], cloud.by["service"]
    net = owner.made("networks", {"network": {"name": "f"}})
    owner.made("subnets", _subnet(net["id"], "10.40.0.0/24"))
    port = owner.made("ports", {"port": {"network_id": net["id"]}})
    bound = nova.put(
        f"/v2.0/ports/{port['id']}",
        {"port": {"binding:host_id": "h1", "binding:profile": {"pci_slot": "x"}}},
    )
    assert bound.status_code == 200, bound.text
    mine = owner.get(f"/v2.0/ports/{port['id']}").json()["port"]
    assert not {k for k in mine if k.startswith("binding:") and k != "binding:vnic_type"}
    for who in (admin, nova):
        seen = who.get(f"/v2.0/ports/{port['id']}").json()["port"]
        assert seen["binding:host_id"] == "h1"
    assert "provider:network_type" not in owner.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["provider:network_type"]
    resp = owner.get("/v2.0/networks", params={"provider:network_type": "vxlan"})
    neutron_error(resp, 400)
    neutron_error(owner.get(f"/v2.0/ports/{port['id']}/provisioning"), 403)
    neutron_error(owner.put(f"/v2.0/quotas/{cloud.ks.projects['demo']}", {"quota": {}}), 403)
    assert admin.get(f"/v2.0/quotas/{cloud.ks.projects['demo']}").status_code == 200


def test_policy_file_overrides_defaults(keystone: Keystone, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        '"get_network": "rule:admin_only"\n"create_network:shared": "role:member"\n'
        '"get_port:mac_address": "rule:admin_only or role:member"\n'  # a rule of its own
    )
    env = {**keystone.server_env(), "ALCOR_POLICY_FILE": str(policy)}
    with AlcorServer(extra_env=env) as srv:
        owner = Caller(keystone, srv.url, "member1")
        made = owner.made("networks", {"network": {"name": "s", "shared": True}})
        assert made["shared"] is True  # the create answers as the control plane saw it
        assert owner.get("/v2.0/networks").json()["networks"] == []
        neutron_error(owner.get(f"/v2.0/networks/{made['id']}"), 404)
        admin = Caller(keystone, srv.url, "admin")
        body = {"port": {"network_id": made["id"], "project_id": keystone.projects["demo"]}}
        port = admin.made("ports", body)
        path = f"/v2.0/ports/{port['id']}"
        assert "mac_address" in owner.get(path).json()["port"]
        seen = Caller(keystone, srv.url, "reader1").get(path).json()["port"]
        assert seen["id"] == port["id"] and "mac_address" not in seen


# -- clients with password auth --------------------------------------------------------------


def _openstack(cloud: Cloud, user: str, *args: str) -> Any:
    project = "admin" if user == "admin" else {"member1": "demo"}.get(user, "demo")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "OS_AUTH_URL": cloud.ks.url,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user,
        "OS_PASSWORD": PASSWORD,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_ID": "default",
        "OS_PROJECT_DOMAIN_ID": "default",
        "OS_NETWORK_ENDPOINT_OVERRIDE": cloud.srv.url,
    }
    proc = subprocess.run(
        [OPENSTACK, *args, "-f", "json"], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def test_openstack_cli_with_password_auth(cloud: Cloud) -> None:
    nets = _openstack(cloud, "member1", "network", "list")
    assert cloud.shared["id"] in {n["ID"] for n in nets}
    quota = _openstack(cloud, "admin", "quota", "show", "demo")
    assert quota
    made = _openstack(
        cloud,
        "admin",
        "network",
        "rbac",
        "create",
        "--type",
        "network",
        "--action",
        "access_as_external",
        "--target-project",
        "demo2",
        cloud.shared["name"],
    )
    listed = _openstack(cloud, "admin", "network", "rbac", "list")
    assert made["id"] in {r["ID"] for r in listed}


def test_openstacksdk_with_password_auth(cloud: Cloud) -> None:
    import openstack

    conn = openstack.connect(
        auth_url=cloud.ks.url,
        username="member1",
        password=PASSWORD,
        project_name="demo",
        user_domain_id="default",
        project_domain_id="default",
        network_endpoint_override=cloud.srv.url,
        load_yaml_config=False,
        load_envvars=False,
    )
    names = {n.name for n in conn.network.networks()}
    assert {"shared", "ext"} <= names
