"""Prepare a Keystone + Alcor pair for tempest and write its tempest.conf.

Run from the tempest venv (it uses keystoneauth1) by `scripts/tempest.sh` once Keystone is
bootstrapped and the auth proxy is up:

1. registers the `network` service with the proxy's URL as its endpoint in Keystone;
2. as Keystone's admin, through the proxy, reads `/v2.0/extensions` and makes the external
   network tempest's router and floating IP tests need (`public`: flat, `router:external`);
3. writes tempest.conf: identity v3 with dynamic credentials, only the network service, the
   API extensions Alcor lists, no validation (no compute, no scenario tests).

Usage: setup_cloud.py KEYSTONE_URL NETWORK_URL TEMPEST_CONF
"""

from __future__ import annotations

import sys
from typing import Any

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

REGION = "RegionOne"
ADMIN = {"username": "admin", "password": "secret", "project_name": "admin"}


def admin_session(keystone: str) -> ks_session.Session:
    auth = v3.Password(
        auth_url=keystone,
        user_domain_name="Default",
        project_domain_name="Default",
        **ADMIN,
    )
    return ks_session.Session(auth=auth)


def register_network(sess: ks_session.Session, keystone: str, url: str) -> None:
    def call(method: str, path: str, **kw: Any) -> Any:
        resp = sess.request(keystone + path, method, **kw)
        return resp.json() if resp.content else None

    services = call("GET", "/services?type=network")["services"]
    if services:
        svc = services[0]
    else:
        body = {"service": {"name": "neutron", "type": "network"}}
        svc = call("POST", "/services", json=body)["service"]
    have = {e["interface"] for e in call("GET", f"/endpoints?service_id={svc['id']}")["endpoints"]}
    for interface in ("public", "internal", "admin"):
        if interface not in have:
            endpoint = {
                "service_id": svc["id"],
                "interface": interface,
                "url": url,
                "region_id": REGION,
            }
            call("POST", "/endpoints", json={"endpoint": endpoint})


def prepare_network(sess: ks_session.Session, url: str) -> tuple[list[str], str]:
    def call(method: str, path: str, **kw: Any) -> Any:
        return sess.request(url.rstrip("/") + path, method, **kw).json()

    aliases = sorted(e["alias"] for e in call("GET", "/v2.0/extensions")["extensions"])
    nets = call("GET", "/v2.0/networks?name=public&router:external=true")["networks"]
    if nets:
        return aliases, nets[0]["id"]
    net = call(
        "POST",
        "/v2.0/networks",
        json={
            "network": {
                "name": "public",
                "router:external": True,
                "provider:network_type": "flat",
                "provider:physical_network": "public",
            }
        },
    )["network"]
    call(
        "POST",
        "/v2.0/subnets",
        json={
            "subnet": {
                "name": "public-subnet",
                "network_id": net["id"],
                "ip_version": 4,
                "cidr": "172.24.4.0/22",
                "gateway_ip": "172.24.4.1",
                "enable_dhcp": False,
            }
        },
    )
    return aliases, net["id"]


def tempest_conf(keystone: str, aliases: list[str], public_net: str) -> str:
    return f"""[DEFAULT]
log_file = tempest.log
use_stderr = false

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = {ADMIN["username"]}
admin_password = {ADMIN["password"]}
admin_project_name = {ADMIN["project_name"]}
admin_domain_name = Default
default_credentials_domain_name = Default
tempest_roles = member

[identity]
uri_v3 = {keystone}
auth_version = v3
region = {REGION}
disable_ssl_certificate_validation = true

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[service_available]
neutron = true
nova = false
glance = false
cinder = false
swift = false
horizon = false

[network]
public_network_id = {public_net}
floating_network_name = public
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64
project_networks_reachable = false
shared_physical_network = false
build_timeout = 60
build_interval = 1

[network-feature-enabled]
api_extensions = {",".join(aliases)}
ipv6 = true
ipv6_subnet_attributes = true
port_security = {"true" if "port-security" in aliases else "false"}

[neutron_plugin_options]
available_type_drivers = flat,vxlan
provider_vlans =
max_networks_per_project = 0
q_agent = None

[validation]
run_validation = false
"""


def main() -> None:
    keystone, network_url, conf_path = sys.argv[1:4]
    sess = admin_session(keystone)
    register_network(sess, keystone, network_url)
    aliases, public_net = prepare_network(sess, network_url)
    with open(conf_path, "w") as f:
        f.write(tempest_conf(keystone, aliases, public_net))
    print(f"{len(aliases)} extensions; public network {public_net}; wrote {conf_path}")


if __name__ == "__main__":
    main()
