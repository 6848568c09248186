"""Ports: the declaration of Neutron's port resource and its rules."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.config import ServerSettings
from alcor.ipam import errors as ipam_errors
from alcor.ipam import mac as macs
from alcor.ipam import pools
from alcor.ipam.tables import ipam_used
from alcor.resources import floatingip, kinds
from alcor.resources import security_group as sg
from alcor.resources.context import Context
from alcor.resources.model import Attr, Hooks, Resource
from alcor.store.db import UnitOfWork
from alcor.store.schema import hosts

VNIC_TYPES = (
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "remote-managed",
    "vdpa",
)

resource = Resource(
    "port",
    "ports",
    [
        Attr("network_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr("mac_address", kinds.MacAddress(), post=True, put=True),
        Attr(
            "fixed_ips",
            kinds.dict_list({"subnet_id": kinds.Uuid(), "ip_address": kinds.IpAddress()}),
            post=True,
            put=True,
        ),
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="DOWN"),
        Attr("device_id", kinds.Str(255), post=True, put=True, default="", index=True),
        Attr("device_owner", kinds.Str(255), post=True, put=True, default=""),
        Attr(
            "binding:host_id",
            kinds.Str(255),
            post=True,
            put=True,
            default="",
            admin_only=True,
            index=True,
        ),
        Attr("binding:vnic_type", kinds.Enum(*VNIC_TYPES), post=True, put=True, default="normal"),
        Attr(
            "binding:profile",
            kinds.Json(kinds.json_object),
            post=True,
            put=True,
            default={},
            admin_only=True,
            filter=False,
        ),
        Attr("binding:vif_type", kinds.Str(64), default="unbound", admin_only=True),
        Attr("binding:vif_details", kinds.Json(), default={}, admin_only=True, filter=False),
        Attr(
            "allowed_address_pairs",
            kinds.dict_list(
                {"ip_address": kinds.Str(64), "mac_address": kinds.MacAddress()},
                required=("ip_address",),
            ),
            post=True,
            put=True,
            default=[],
            filter=False,
        ),
        Attr("port_security_enabled", kinds.Bool(), post=True, put=True),
        Attr("security_groups", kinds.list_of(kinds.Uuid()), post=True, put=True),
        Attr(
            "extra_dhcp_opts",
            kinds.dict_list(
                {
                    "opt_name": kinds.Str(64),
                    "opt_value": kinds.Str(255),
                    "ip_version": kinds.Int(4, 6),
                },
                required=("opt_name", "opt_value"),
            ),
            post=True,
            put=True,
            default=[],
            filter=False,
        ),
        Attr("dns_name", kinds.Str(255), post=True, put=True, default=""),
        # Derived from dns_name and fixed_ips but stored, written with them: lists then splice
        # it as raw JSON instead of decoding every port's fixed_ips to rebuild it.
        Attr("dns_assignment", kinds.Json(), default=[], filter=False, sort=False),
        Attr("ip_allocation", kinds.Str(16), default="immediate"),
    ],
    extensions=(
        "binding",
        "allowed-address-pairs",
        "extra_dhcp_opt",
        "port-security",
        "dns-integration",
        "ip_allocation",
        "ip-substring-filtering",
        "tag-ports-during-bulk-creation",
    ),
    table_args=(sa.UniqueConstraint("network_id", "mac_address"),),
    quota="port",
)

SLAAC_MODES = ("slaac", "dhcpv6-stateless")
_IP_TEXT = {4: lambda v: str(ipaddress.IPv4Address(v)), 6: lambda v: str(ipaddress.IPv6Address(v))}
ROUTER_OWNERS = (
    "network:router_interface",
    "network:router_gateway",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
)


def _trusted(item: dict[str, Any]) -> bool:
    """Ports the cloud itself owns (router interfaces, DHCP): Neutron filters none of them."""
    return str(item.get("device_owner") or "").startswith("network:")


def dns_assignment(dns_name: str, fixed_ips: list[dict[str, str]]) -> list[dict[str, str]]:
    """Neutron's dns_assignment: the port's name per address, or 'host-<ip>' without one."""
    out = []
    for fip in fixed_ips:
        ip = fip["ip_address"]
        host = dns_name or "host-" + ip.replace(".", "-").replace(":", "-")
        out.append({"hostname": host, "ip_address": ip, "fqdn": f"{host}.openstacklocal."})
    return out


def eui64(cidr: str, mac: str) -> str:
    """The SLAAC address of `mac` in an IPv6 /64 (RFC 4291 modified EUI-64)."""
    net = ipaddress.IPv6Network(cidr)
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes([*octets[:3], 255, 254, *octets[3:]])
    return str(ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(iid, "big")))


def _mac_in_use(network_id: str, mac: str) -> errors.NeutronError:
    return errors.typed(
        errors.Conflict,
        "MacAddressInUse",
        f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.",
    )


def _in_use(network_id: str, ip: str) -> errors.NeutronError:
    return errors.typed(
        errors.Conflict,
        "IpAddressInUse",
        f"Unable to complete operation for network {network_id}. The IP address {ip} is in use.",
    )


def _exhausted(network_id: str, subnet_id: str | None = None) -> errors.NeutronError:
    where = f"subnet {subnet_id}" if subnet_id else f"network {network_id}"
    return errors.typed(
        errors.Conflict, "IpAddressGenerationFailure", f"No more IP addresses available on {where}."
    )


class PortHooks(Hooks):
    """MAC and fixed-IP allocation (atomic with the port row), binding, port security."""

    def __init__(self, settings: ServerSettings) -> None:
        self.base_mac = settings.base_mac
        self.agent_down_time = settings.agent_down_time

    # -- lookups ---------------------------------------------------------------------
    def _network(self, uow: UnitOfWork, ctx: Context, network_id: str) -> sa.Row[Any]:
        key = ("network", network_id)
        row = uow.cache.get(key)
        if row is None:
            nets = network_table()
            stmt = resource.statement(
                "network",
                lambda: sa.select(
                    nets.c.id,
                    nets.c.project_id,
                    nets.c.shared,
                    nets.c.router_external,
                    nets.c.port_security_enabled,
                ).where(nets.c.id == sa.bindparam("id")),
            )
            row = uow.cache[key] = uow.execute(stmt, {"id": network_id}).first()
        if row is None or not (ctx.is_admin or row.project_id == ctx.project_id or row.shared):
            raise errors.not_found("network", network_id)
        return row

    def _subnets(self, uow: UnitOfWork, network_id: str) -> list[sa.Row[Any]]:
        key = ("subnets", network_id)
        if key not in uow.cache:
            t = subnet_table()
            stmt = resource.statement(
                "subnets",
                lambda: (
                    sa.select(
                        t.c.id, t.c.ip_version, t.c.cidr, t.c.gateway_ip, t.c.ipv6_address_mode
                    )
                    .where(t.c.network_id == sa.bindparam("network_id"))
                    .order_by(t.c.created_at, t.c.id)
                ),
            )
            uow.cache[key] = uow.execute(stmt, {"network_id": network_id}).all()
        return list(uow.cache[key])

    # -- fixed IPs -------------------------------------------------------------------
    def _take(
        self, uow: UnitOfWork, port: dict[str, Any], subnet: sa.Row[Any], ip: str | None
    ) -> dict[str, str]:
        """Allocate `ip` (or any free address) in `subnet` for `port`."""
        network_id = port["network_id"]
        if ip is None:
            try:
                value = pools.allocate(
                    uow, subnet.id, port["id"], display=_IP_TEXT[subnet.ip_version]
                )
            except ipam_errors.PoolExhausted:
                raise _exhausted(network_id, subnet.id) from None
            return {"subnet_id": subnet.id, "ip_address": _IP_TEXT[subnet.ip_version](value)}
        addr = ipaddress.ip_address(ip)
        net = ipaddress.ip_network(subnet.cidr)
        if addr not in net or (
            net.num_addresses > 2
            and (
                addr == net.network_address or (net.version == 4 and addr == net.broadcast_address)
            )
        ):
            raise errors.typed(
                errors.BadRequest,
                "InvalidIpForSubnet",
                f"IP address {ip} is not a valid IP for the specified subnet.",
            )
        if ip == subnet.gateway_ip and port.get("device_owner") not in ROUTER_OWNERS:
            raise _in_use(network_id, ip)
        try:
            pools.allocate(
                uow, subnet.id, port["id"], int(addr), outside_ok=True, display=str(addr)
            )
        except ipam_errors.ValueInUse:
            raise _in_use(network_id, ip) from None
        return {"subnet_id": subnet.id, "ip_address": str(addr)}

    def _auto_ips(self, uow: UnitOfWork, port: dict[str, Any]) -> list[dict[str, str]]:
        """Neutron's default: one address from the first IPv4 subnet with room, one from
        the first stateful IPv6 subnet with room, and a SLAAC address on every SLAAC
        subnet."""
        subnets = self._subnets(uow, port["network_id"])
        out: list[dict[str, str]] = []
        v4 = [s for s in subnets if s.ip_version == 4]
        v6 = [s for s in subnets if s.ip_version == 6 and s.ipv6_address_mode not in SLAAC_MODES]
        for group in (v4, v6):
            for subnet in group:
                try:
                    out.append(self._take(uow, port, subnet, None))
                    break
                except errors.Conflict:
                    continue
            else:
                if group:
                    raise _exhausted(port["network_id"])
        for subnet in subnets:
            if subnet.ip_version == 6 and subnet.ipv6_address_mode in SLAAC_MODES:
                out.append(self._take(uow, port, subnet, eui64(subnet.cidr, port["mac_address"])))
        return out

    def _resolve(
        self, uow: UnitOfWork, port: dict[str, Any], wanted: list[dict[str, Any]]
    ) -> list[tuple[sa.Row[Any], str | None]]:
        """Map each requested fixed IP to (subnet, address or None for automatic)."""
        subnets = {s.id: s for s in self._subnets(uow, port["network_id"])}
        out = []
        seen: set[tuple[str, str | None]] = set()
        for entry in wanted:
            sid, ip = entry.get("subnet_id"), entry.get("ip_address")
            if sid is not None:
                subnet = subnets.get(sid)
                if subnet is None:
                    raise errors.InvalidInput(
                        f"Invalid input for operation: Failed to create "
                        f"port on network {port['network_id']}, because "
                        f"fixed_ips included invalid subnet {sid}."
                    )
            elif ip is not None:
                addr = ipaddress.ip_address(ip)
                found = [s for s in subnets.values() if addr in ipaddress.ip_network(s.cidr)]
                if not found:
                    raise errors.typed(
                        errors.BadRequest,
                        "InvalidIpForNetwork",
                        f"IP address {ip} is not a valid IP for any of the "
                        "subnets on the specified network.",
                    )
                subnet = found[0]
            else:
                raise errors.InvalidInput(
                    "Invalid input for operation: fixed_ips entries need "
                    "a subnet_id or an ip_address."
                )
            if ip is not None and (subnet.id, ip) in seen:
                raise errors.InvalidInput(
                    f"Invalid input for operation: Duplicate IP address '{ip}'."
                )
            seen.add((subnet.id, ip))
            out.append((subnet, ip))
        return out

    def _release(self, uow: UnitOfWork, fixed_ips: list[dict[str, str]]) -> None:
        """Release in one call: the allocator orders bucket locks so that concurrent
        releases cannot deadlock on PostgreSQL (a loop of single releases can)."""
        pools.release_many(
            uow, [(f["subnet_id"], int(ipaddress.ip_address(f["ip_address"]))) for f in fixed_ips]
        )

    # -- MAC and binding ---------------------------------------------------------------
    def _binding(self, uow: UnitOfWork, item: dict[str, Any]) -> None:
        host_id = item.get("binding:host_id") or ""
        if not host_id:
            item["binding:vif_type"], item["binding:vif_details"] = "unbound", {}
            return
        row = uow.execute(
            sa.select(hosts.c.heartbeat_at, hosts.c.admin_state_up, hosts.c.configurations).where(
                hosts.c.host_id == host_id
            )
        ).first()
        alive = (
            row is not None
            and row.admin_state_up
            and row.heartbeat_at is not None
            and row.heartbeat_at >= uow.now - self.agent_down_time
        )
        if row is None or not alive or item.get("binding:vnic_type", "normal") != "normal":
            item["binding:vif_type"], item["binding:vif_details"] = "binding_failed", {}
            return
        conf = row.configurations or {}
        item["binding:vif_type"] = "ovs"
        item["binding:vif_details"] = {
            "port_filter": True,
            "ovs_hybrid_plug": False,
            "bridge_name": conf.get("integration_bridge", "br-int"),
            "datapath_type": conf.get("datapath_type", "system"),
            "connectivity": "l2",
            "bound_drivers": {"0": "alcor"},
        }

    def _check_security(self, item: dict[str, Any]) -> None:
        if item.get("port_security_enabled") is False:
            if item.get("security_groups"):
                raise errors.typed(
                    errors.Conflict,
                    "PortSecurityAndIPRequiredForSecurityGroups",
                    "Port security must be enabled and port must have an IP "
                    "address in order to use security groups.",
                )
            if item.get("allowed_address_pairs"):
                raise errors.typed(
                    errors.Conflict,
                    "AddressPairAndPortSecurityRequired",
                    "Port Security must be enabled in order to have allowed "
                    "address pairs on a port.",
                )

    def _address_pairs(self, item: dict[str, Any]) -> None:
        pairs = item.get("allowed_address_pairs") or []
        seen = set()
        for pair in pairs:
            try:
                ipaddress.ip_network(pair["ip_address"], strict=False)
            except ValueError:
                raise errors.InvalidInput(
                    f"Invalid input for allowed_address_pairs. Reason: "
                    f"'{pair['ip_address']}' is not a valid IP "
                    "address."
                ) from None
            pair["mac_address"] = pair.get("mac_address") or item["mac_address"]
            key = (pair["ip_address"], pair["mac_address"])
            if key in seen:
                raise errors.InvalidInput(
                    "Invalid input for allowed_address_pairs. Reason: duplicate address pair."
                )
            seen.add(key)

    # -- hooks -----------------------------------------------------------------------
    def visible(self, ctx: Context) -> sa.ColumnElement[bool]:
        t = resource.table
        nets = network_table()
        return sa.or_(
            t.c.project_id == ctx.project_id,
            t.c.network_id.in_(sa.select(nets.c.id).where(nets.c.project_id == ctx.project_id)),
        )

    def before_create_many(
        self, uow: UnitOfWork, ctx: Context, items: list[dict[str, Any]]
    ) -> None:
        """Ports created together share their lookups, their MAC check and, where every
        port takes automatic addresses, one allocator call per subnet for all of them."""
        for item in items:
            net = self._network(uow, ctx, item["network_id"])
            if item.get("port_security_enabled") is None:
                item["port_security_enabled"] = bool(net.port_security_enabled)
            self._check_security(item)
        self._assign_groups(uow, ctx, items)
        self._assign_macs(uow, items)
        allocated = self._auto_ips_many(uow, [it for it in items if it.get("fixed_ips") is None])
        for item in items:
            self._address_pairs(item)
            if id(item) in allocated:
                pass
            elif item.get("fixed_ips") is None:
                item["fixed_ips"] = self._auto_ips(uow, item)
            else:
                item["fixed_ips"] = [
                    self._take(uow, item, subnet, ip)
                    for subnet, ip in self._resolve(uow, item, item["fixed_ips"])
                ]
            self._binding(uow, item)
            item["dns_assignment"] = dns_assignment(item["dns_name"], item["fixed_ips"])

    def _assign_groups(self, uow: UnitOfWork, ctx: Context, items: list[dict[str, Any]]) -> None:
        """Neutron's rule: network-owned ports (router, DHCP) get no groups; a port without
        port security gets none; any other port without `security_groups` gets its
        project's default group, made on first need."""
        for item in items:
            wanted = item.get("security_groups")
            if _trusted(item) or (item["port_security_enabled"] is False and wanted is None):
                item["security_groups"] = []
            elif wanted is None:
                item["security_groups"] = [sg.ensure_default(uow, item["project_id"])]
            else:
                sg.groups_of_project(uow, ctx, item["project_id"], wanted)
        sg.bind_ports(uow, [(it["id"], it["security_groups"]) for it in items], new=True)

    def _assign_macs(self, uow: UnitOfWork, items: list[dict[str, Any]]) -> None:
        """Check explicit MACs and draw random ones, one query per network per round."""
        by_net: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_net.setdefault(item["network_id"], []).append(item)
        for network_id, group in by_net.items():
            explicit = [it for it in group if it.get("mac_address") is not None]
            seen: set[str] = set()
            for it in explicit:
                if it["mac_address"] in seen:
                    raise _mac_in_use(network_id, it["mac_address"])
                seen.add(it["mac_address"])
            taken = self._macs_taken(uow, network_id, seen)
            if taken:
                raise _mac_in_use(network_id, sorted(taken)[0])
            todo = [it for it in group if it.get("mac_address") is None]
            for _ in range(16):
                if not todo:
                    break
                drawn = {}
                for it in todo:
                    mac = macs.random_mac(self.base_mac)
                    if mac not in seen and mac not in drawn:
                        drawn[mac] = it
                taken = self._macs_taken(uow, network_id, set(drawn))
                for mac, it in drawn.items():
                    if mac not in taken:
                        it["mac_address"] = mac
                        seen.add(mac)
                todo = [it for it in todo if it.get("mac_address") is None]
            if todo:
                raise errors.typed(
                    errors.ServiceUnavailable,
                    "MacAddressGenerationFailure",
                    f"Unable to generate unique mac on network {network_id}.",
                )

    def _macs_taken(self, uow: UnitOfWork, network_id: str, wanted: set[str]) -> set[str]:
        if not wanted:
            return set()
        t = resource.table
        if len(wanted) == 1:  # the common case, with a statement compiled once
            one = resource.statement(
                "mac_taken",
                lambda: sa.select(t.c.mac_address).where(
                    t.c.network_id == sa.bindparam("network_id"),
                    t.c.mac_address == sa.bindparam("mac"),
                ),
            )
            [mac] = wanted
            return {r[0] for r in uow.execute(one, {"network_id": network_id, "mac": mac})}
        stmt = resource.statement(
            "macs_taken",
            lambda: sa.select(t.c.mac_address).where(
                t.c.network_id == sa.bindparam("network_id"),
                t.c.mac_address.in_(sa.bindparam("macs", expanding=True)),
            ),
        )
        rows = uow.execute(stmt, {"network_id": network_id, "macs": sorted(wanted)})
        return {r[0] for r in rows}

    def _auto_ips_many(self, uow: UnitOfWork, items: list[dict[str, Any]]) -> set[int]:
        """Automatic addresses for ports of networks with only plain subnets (no SLAAC),
        each IP version from its first subnet, one allocator call per subnet. Returns the
        ids (object ids) of the items served; the others take the one-by-one path, which
        also walks to further subnets when the first is full."""
        served: set[int] = set()
        by_net: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_net.setdefault(item["network_id"], []).append(item)
        for network_id, group in by_net.items():
            subnets = self._subnets(uow, network_id)
            if len(group) < 2 or any(s.ipv6_address_mode in SLAAC_MODES for s in subnets):
                continue
            firsts = [next((s for s in subnets if s.ip_version == v), None) for v in (4, 6)]
            try:
                with uow.savepoint():
                    per_item: list[list[dict[str, str]]] = [[] for _ in group]
                    for subnet in firsts:
                        if subnet is None:
                            continue
                        values = pools.allocate_many(
                            uow,
                            subnet.id,
                            [it["id"] for it in group],
                            display=_IP_TEXT[subnet.ip_version],
                        )
                        text = _IP_TEXT[subnet.ip_version]
                        for fixed, value in zip(per_item, values, strict=True):
                            fixed.append({"subnet_id": subnet.id, "ip_address": text(value)})
            except ipam_errors.PoolExhausted:
                continue
            for item, fixed in zip(group, per_item, strict=True):
                item["fixed_ips"] = fixed
                served.add(id(item))
        return served

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        new = {**old, **changes}
        if "mac_address" in changes and changes["mac_address"] != old["mac_address"]:
            if old["binding:vif_type"] not in ("unbound", "binding_failed"):
                raise errors.typed(
                    errors.Conflict,
                    "PortBound",
                    f"Unable to complete operation on port {old['id']}, port is "
                    f"already bound, port type: {old['binding:vif_type']}, "
                    f"old_mac {old['mac_address']}, new_mac "
                    f"{changes['mac_address']}.",
                )
            if self._macs_taken(uow, old["network_id"], {changes["mac_address"]}):
                raise _mac_in_use(old["network_id"], changes["mac_address"])
        self._check_security(new)
        if "security_groups" in changes and changes["security_groups"] != old["security_groups"]:
            groups = [] if _trusted(new) else changes["security_groups"]
            sg.groups_of_project(uow, ctx, old["project_id"], groups)
            changes["security_groups"] = groups
            sg.bind_ports(uow, [(old["id"], groups)])
        if "allowed_address_pairs" in changes:
            self._address_pairs(new)
            changes["allowed_address_pairs"] = new["allowed_address_pairs"]
        if "fixed_ips" in changes:
            changes["fixed_ips"] = self._update_ips(uow, old, new, changes["fixed_ips"])
        if {"binding:host_id", "binding:vnic_type"} & changes.keys():
            self._binding(uow, new)
            changes["binding:vif_type"] = new["binding:vif_type"]
            changes["binding:vif_details"] = new["binding:vif_details"]
            if new["binding:host_id"] != old["binding:host_id"]:
                changes["status"] = "DOWN"
        if {"dns_name", "fixed_ips"} & changes.keys():
            changes["dns_assignment"] = dns_assignment(
                changes.get("dns_name", old["dns_name"]),
                changes.get("fixed_ips", old["fixed_ips"]),
            )

    def _update_ips(
        self,
        uow: UnitOfWork,
        old: dict[str, Any],
        new: dict[str, Any],
        wanted: list[dict[str, Any]],
    ) -> list[dict[str, str]]:
        """Replace the port's addresses atomically: keep those still asked for (an entry
        with only a subnet_id keeps the address already held there), release the rest,
        allocate what is new."""
        held = list(old["fixed_ips"] or [])
        keep: list[dict[str, str]] = []
        todo: list[tuple[sa.Row[Any], str | None]] = []
        for subnet, ip in self._resolve(uow, new, wanted):
            match = next(
                (
                    h
                    for h in held
                    if h["subnet_id"] == subnet.id and (ip is None or ip == h["ip_address"])
                ),
                None,
            )
            if match is not None:
                held.remove(match)
                keep.append(match)
            else:
                todo.append((subnet, ip))
        self._release(uow, held)
        return keep + [self._take(uow, new, subnet, ip) for subnet, ip in todo]

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        self._release(uow, item["fixed_ips"] or [])
        if item["security_groups"]:
            sg.bind_ports(uow, [(item["id"], [])])
        floatingip.disassociate_port(uow, item["id"])
        uow.emit(
            "port_deleted",
            {
                "port_id": item["id"],
                "device_id": item["device_id"],
                "device_owner": item["device_owner"],
            },
        )

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        return item["network_id"], item.get("binding:host_id") or None

    def filters(self) -> dict[str, Any]:
        return {"fixed_ips": fixed_ips_filter}


def fixed_ips_filter(values: list[str]) -> sa.ColumnElement[bool]:
    """`fixed_ips=ip_address=X`, `fixed_ips=subnet_id=Y`, `fixed_ips=ip_address_substr=Z`:
    one allocation of the port must match every kind given (values of a kind are ORed),
    answered from the allocator's table so no JSON is parsed in SQL."""
    wanted: dict[str, list[str]] = {}
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep or key not in ("ip_address", "subnet_id", "ip_address_substr"):
            raise errors.BadRequest(
                f"Invalid fixed_ips filter '{value}': expected "
                "ip_address=, subnet_id= or ip_address_substr="
            )
        wanted.setdefault(key, []).append(arg)
    clauses = [ipam_used.c.owner == resource.table.c.id]
    if "ip_address" in wanted:
        try:
            keys = [pools.key(int(ipaddress.ip_address(ip))) for ip in wanted["ip_address"]]
        except ValueError:
            raise errors.BadRequest("Invalid IP address in fixed_ips filter") from None
        clauses.append(ipam_used.c.vkey.in_(keys))
    if "subnet_id" in wanted:
        clauses.append(ipam_used.c.pool_id.in_(wanted["subnet_id"]))
    if "ip_address_substr" in wanted:
        clauses.append(
            sa.or_(
                *[
                    ipam_used.c.display.contains(s, autoescape=True)
                    for s in wanted["ip_address_substr"]
                ]
            )
        )
    return sa.exists().where(*clauses)


def network_table() -> sa.Table:
    from alcor.resources.network import resource as network

    return network.table


def subnet_table() -> sa.Table:
    from alcor.resources.subnet import resource as subnet

    return subnet.table
