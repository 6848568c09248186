"""Ports' rules: MAC and fixed-IP allocation (atomic with the port row), binding, port
security, DNS assignment. Security group membership hangs on the port kind's events
(`alcor.resources.rules.security_group`); what a port's delete means for floating IPs is
declared on their reference to it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor import errors
from alcor.config import ServerSettings
from alcor.ipam import errors as ipam_errors
from alcor.ipam import mac as macs
from alcor.ipam import pools
from alcor.ipam.tables import ipam_used
from alcor.resources import grants, port_bindings, relations
from alcor.resources.context import Context
from alcor.resources.declarations import network
from alcor.resources.declarations import router as router_decl
from alcor.resources.declarations import security_group as sg_decl
from alcor.resources.declarations import subnet as subnet_decl
from alcor.resources.declarations.port import DHCP_OWNER, ROUTER_OWNERS, resource
from alcor.resources.declarations.subnet import AUTO_ADDRESS_MODES
from alcor.resources.model import Hooks, Item, Read, caller_project

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

_IP_TEXT = {4: lambda v: str(ipaddress.IPv4Address(v)), 6: lambda v: str(ipaddress.IPv6Address(v))}


def dns_assignment(dns_name: str, fixed_ips: list[Item]) -> list[Item]:
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


def _subnets_of() -> sa.Select[Any]:
    """A network's subnets, as port creates read them (built once)."""
    t = subnet_decl.resource.table
    return resource.statement(  # type: ignore[no-any-return]
        "subnets",
        lambda: (
            sa.select(
                t.c.id,
                t.c.ip_version,
                t.c.cidr,
                t.c.gateway_ip,
                t.c.ipv6_address_mode,
                t.c.enable_dhcp,
                t.c.service_types,
            )
            .where(t.c.network_id == sa.bindparam("network_id"))
            .order_by(t.c.created_at, t.c.id)
        ),
    )


def eligible(subnets: list[sa.Row[Any]], network_id: str, owner: str) -> list[sa.Row[Any]]:
    """Neutron's service subnets (`subnet-service-types`): a port's addresses come only from
    subnets without service types or whose types name its device_owner (a DHCP port: any
    subnet with DHCP on), the typed ones first, so an operator can keep e.g. router ports
    and VMs apart on one network. A network with subnets but none of them eligible refuses
    the port, as Neutron's IPAM does, rather than using another service's subnet."""
    ok = [
        s
        for s in subnets
        if not s.service_types
        or owner in s.service_types
        or (owner == DHCP_OWNER and s.enable_dhcp)
    ]
    if subnets and not ok:
        raise errors.IpAddressGenerationFailureNoMatchingSubnet(
            network_id=network_id, service_type=owner
        )
    return sorted(ok, key=lambda s: not s.service_types)


def _exhausted(network_id: str, subnet_id: str | None = None) -> errors.NeutronError:
    where = f"subnet {subnet_id}" if subnet_id else f"network {network_id}"
    return errors.IpAddressGenerationFailure(where=where)


class PortHooks(Hooks):
    """MAC and fixed-IP allocation (atomic with the port row), binding, port security."""

    def __init__(self, settings: ServerSettings) -> None:
        self.base_mac = settings.base_mac
        self.agent_down_time = settings.agent_down_time

    # -- lookups ---------------------------------------------------------------------
    def _network(self, uow: UnitOfWork, ctx: Context, network_id: str) -> Item:
        """The port's network: visible to the caller (checked as a reference), and owned or
        shared unless an admin asks (an external network takes only the cloud's ports)."""
        net = relations.target(uow, ctx, network.resource, network_id)
        if net is None or not (
            ctx.is_admin
            or ctx.is_service
            or net["project_id"] == ctx.project_id
            or net["shared"]
            or grants.shared_with(uow, "network", network_id, ctx.project_id)
        ):
            raise network.resource.not_found(network_id)
        return net

    def reads(self, ctx: Context, items: list[Item]) -> list[Read]:
        """The subnets of the ports' networks, looked up with the network itself."""
        networks = sorted({it["network_id"] for it in items if it.get("network_id")})
        return [(_subnets_of(), {"network_id": n}) for n in networks]

    def _network_subnets(self, uow: UnitOfWork, network_id: str) -> list[sa.Row[Any]]:
        key = ("subnets", network_id)
        if key not in uow.cache:
            uow.cache[key] = uow.execute(_subnets_of(), {"network_id": network_id}).all()
        return list(uow.cache[key])

    def _subnets(self, uow: UnitOfWork, port: Item) -> list[sa.Row[Any]]:
        """The subnets of the port's network it may take addresses from, in order."""
        network_id = port["network_id"]
        subnets = self._network_subnets(uow, network_id)
        return eligible(subnets, network_id, port.get("device_owner") or "")

    # -- fixed IPs -------------------------------------------------------------------
    def _take(
        self, uow: UnitOfWork, port: Item, subnet: sa.Row[Any], ip: str | None
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
            raise errors.InvalidIpForSubnet(ip_address=ip)
        if ip == subnet.gateway_ip and port.get("device_owner") not in ROUTER_OWNERS:
            raise errors.IpAddressInUse(net_id=network_id, ip_address=ip)
        try:
            pools.allocate(
                uow, subnet.id, port["id"], int(addr), outside_ok=True, display=str(addr)
            )
        except ipam_errors.ValueInUse:
            raise errors.IpAddressInUse(net_id=network_id, ip_address=ip) from None
        return {"subnet_id": subnet.id, "ip_address": str(addr)}

    def _auto_ips(self, uow: UnitOfWork, port: Item) -> list[dict[str, str]]:
        """Neutron's default: one address from the first IPv4 subnet with room, one from
        the first stateful IPv6 subnet with room, and a SLAAC address on every SLAAC
        subnet."""
        subnets = self._subnets(uow, port)
        out: list[dict[str, str]] = []
        v4 = [s for s in subnets if s.ip_version == 4]
        v6 = [
            s
            for s in subnets
            if s.ip_version == 6 and s.ipv6_address_mode not in AUTO_ADDRESS_MODES
        ]
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
            if subnet.ip_version == 6 and subnet.ipv6_address_mode in AUTO_ADDRESS_MODES:
                out.append(self._take(uow, port, subnet, eui64(subnet.cidr, port["mac_address"])))
        return out

    def _explicit_ips(self, uow: UnitOfWork, port: Item) -> list[dict[str, str]]:
        """The addresses asked for, plus (as Neutron does, except on router interfaces) the
        SLAAC address on every auto-address subnet of the network not named: a VM configures
        that address from the router advertisements whatever the request said."""
        resolved = self._resolve(uow, port, port["fixed_ips"])
        out = [self._take(uow, port, subnet, ip) for subnet, ip in resolved]
        if port.get("device_owner") in ROUTER_OWNERS:
            return out
        named = {subnet.id for subnet, _ in resolved}
        for subnet in self._subnets(uow, port):
            if (
                subnet.ip_version == 6
                and subnet.ipv6_address_mode in AUTO_ADDRESS_MODES
                and subnet.id not in named
            ):
                out.append(self._take(uow, port, subnet, eui64(subnet.cidr, port["mac_address"])))
        return out

    def _resolve(
        self, uow: UnitOfWork, port: Item, wanted: list[Item], held: frozenset[str] = frozenset()
    ) -> list[tuple[sa.Row[Any], str | None]]:
        """Map each requested fixed IP to (subnet, address or None for automatic): in the
        subnets eligible for the port, or among those it holds an address in (`held`: an
        update keeps those whatever their service types)."""
        subnets = {s.id: s for s in self._network_subnets(uow, port["network_id"]) if s.id in held}
        subnets.update((s.id, s) for s in self._subnets(uow, port))
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
                    raise errors.InvalidIpForNetwork(ip_address=ip)
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
    def _binding(self, uow: UnitOfWork, item: Item) -> None:
        item["binding:vif_type"], item["binding:vif_details"] = port_bindings.vif(
            uow,
            item.get("binding:host_id") or "",
            item.get("binding:vnic_type", "normal"),
            self.agent_down_time,
        )

    def _check_security(self, item: Item) -> None:
        if item.get("port_security_enabled") is False:
            if item.get("security_groups"):
                raise errors.PortSecurityAndIPRequiredForSecurityGroups()
            if item.get("allowed_address_pairs"):
                raise errors.AddressPairAndPortSecurityRequired()

    def _address_pairs(self, item: Item) -> None:
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
    def visible(self) -> sa.ColumnElement[bool]:
        t = resource.table
        nets = network.resource.table
        return sa.or_(
            t.c.project_id == caller_project(),
            t.c.network_id.in_(sa.select(nets.c.id).where(nets.c.project_id == caller_project())),
        )

    def before_create_many(self, uow: UnitOfWork, ctx: Context, items: list[Item]) -> None:
        """Ports created together share their lookups, their MAC check and, where every
        port takes automatic addresses, one allocator call per subnet for all of them."""
        for item in items:
            net = self._network(uow, ctx, item["network_id"])
            if item.get("port_security_enabled") is None:
                item["port_security_enabled"] = bool(net["port_security_enabled"])
            self._check_security(item)
            _check_statefulness(uow, item.get("security_groups"))
        self._assign_macs(uow, items)
        allocated = self._auto_ips_many(uow, [it for it in items if it.get("fixed_ips") is None])
        for item in items:
            self._address_pairs(item)
            if id(item) in allocated:
                pass
            elif item.get("fixed_ips") is None:
                item["fixed_ips"] = self._auto_ips(uow, item)
            else:
                item["fixed_ips"] = self._explicit_ips(uow, item)
            self._binding(uow, item)
            item["dns_assignment"] = dns_assignment(item["dns_name"], item["fixed_ips"])

    def _assign_macs(self, uow: UnitOfWork, items: list[Item]) -> None:
        """Check explicit MACs and draw random ones, one query per network per round."""
        by_net: dict[str, list[Item]] = {}
        for item in items:
            by_net.setdefault(item["network_id"], []).append(item)
        for network_id, group in by_net.items():
            explicit = [it for it in group if it.get("mac_address") is not None]
            seen: set[str] = set()
            for it in explicit:
                if it["mac_address"] in seen:
                    raise errors.MacAddressInUse(net_id=network_id, mac=it["mac_address"])
                seen.add(it["mac_address"])
            taken = self._macs_taken(uow, network_id, seen)
            if taken:
                raise errors.MacAddressInUse(net_id=network_id, mac=sorted(taken)[0])
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
                raise errors.MacAddressGenerationFailure(net_id=network_id)

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

    def _auto_ips_many(self, uow: UnitOfWork, items: list[Item]) -> set[int]:
        """Automatic addresses for ports of networks with only plain subnets (no SLAAC),
        each IP version from its first subnet, one allocator call per subnet. Returns the
        ids (object ids) of the items served; the others take the one-by-one path, which
        also walks to further subnets when the first is full."""
        served: set[int] = set()
        by_net: dict[tuple[str, str], list[Item]] = {}
        for item in items:
            by_net.setdefault((item["network_id"], item.get("device_owner") or ""), []).append(item)
        for group in by_net.values():
            subnets = self._subnets(uow, group[0])
            if len(group) < 2 or any(s.ipv6_address_mode in AUTO_ADDRESS_MODES for s in subnets):
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

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        if "mac_address" in changes and changes["mac_address"] is None:
            # `port-mac-address-regenerate`: a new random MAC (refused below if bound)
            fresh = {"network_id": old["network_id"], "mac_address": None}
            self._assign_macs(uow, [fresh])
            changes["mac_address"] = fresh["mac_address"]
        new = {**old, **changes}
        if "mac_address" in changes and changes["mac_address"] != old["mac_address"]:
            if old["binding:vif_type"] not in ("unbound", "binding_failed"):
                raise errors.PortBound(
                    port_id=old["id"],
                    vif_type=old["binding:vif_type"],
                    old_mac=old["mac_address"],
                    new_mac=changes["mac_address"],
                )
            if self._macs_taken(uow, old["network_id"], {changes["mac_address"]}):
                raise errors.MacAddressInUse(net_id=old["network_id"], mac=changes["mac_address"])
        self._check_security(new)
        if "security_groups" in changes:
            _check_statefulness(uow, changes["security_groups"])
        if "allowed_address_pairs" in changes:
            self._address_pairs(new)
            changes["allowed_address_pairs"] = new["allowed_address_pairs"]
        if "fixed_ips" in changes:
            changes["fixed_ips"] = self._update_ips(uow, old, new, changes["fixed_ips"])
            if not ctx.is_system:
                _refuse_router_ip_change(uow, old, changes["fixed_ips"])
        if {"binding:host_id", "binding:vnic_type"} & changes.keys():
            self._binding(uow, new)
            changes["binding:vif_type"] = new["binding:vif_type"]
            changes["binding:vif_details"] = new["binding:vif_details"]
            if new["binding:host_id"] != old["binding:host_id"]:
                changes["status"] = "DOWN"
        if {"dns_name", "fixed_ips"} & changes.keys():
            now = {**old, **changes}
            changes["dns_assignment"] = dns_assignment(now["dns_name"], now["fixed_ips"])

    def _update_ips(
        self,
        uow: UnitOfWork,
        old: Item,
        new: Item,
        wanted: list[Item],
    ) -> list[dict[str, str]]:
        """Replace the port's addresses atomically: keep those still asked for (an entry
        with only a subnet_id keeps the address already held there), release the rest,
        allocate what is new."""
        held = list(old["fixed_ips"] or [])
        keep: list[dict[str, str]] = []
        todo: list[tuple[sa.Row[Any], str | None]] = []
        held_ids = frozenset(h["subnet_id"] for h in held)
        for subnet, ip in self._resolve(uow, new, wanted, held_ids):
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

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if not ctx.is_system and item["device_owner"] in ROUTER_OWNERS:
            _refuse_router_port(uow, item)
        self._release(uow, item["fixed_ips"] or [])
        port_bindings.forget(uow, item)
        uow.emit(
            "port_deleted",
            {
                "port_id": item["id"],
                "device_id": item["device_id"],
                "device_owner": item["device_owner"],
            },
        )

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return item["network_id"], item.get("binding:host_id") or None

    def filters(self) -> dict[str, Callable[[list[str]], sa.ColumnElement[bool]]]:
        return {"fixed_ips": fixed_ips_filter}


def _check_statefulness(uow: UnitOfWork, groups: list[str] | None) -> None:
    """Neutron: a port's security groups are all stateful or all stateless."""
    if not groups or len(groups) < 2:
        return
    t = sg_decl.group.table
    kinds_of = uow.execute(sa.select(t.c.stateful).where(t.c.id.in_(groups)).distinct()).all()
    if len(kinds_of) > 1:
        raise errors.SecurityGroupConflict(
            reason="Cannot apply both stateful and stateless security groups on the same "
            "port at the same time"
        )


def _refuse_router_port(uow: UnitOfWork, item: Item) -> None:
    """Neutron's prevent_l3_port_deletion: a router's port goes through the router's API
    (remove_router_interface, clearing the gateway), never a port delete, even an admin's,
    while its router exists."""
    t = router_decl.resource.table
    if uow.execute(sa.select(t.c.id).where(t.c.id == item["device_id"])).first() is not None:
        raise errors.ServicePortInUse(
            port_id=item["id"], reason=f"has device owner {item['device_owner']}"
        )


# Neutron's IP_UPDATE_NOT_ALLOWED_LIST (`l3-port-ip-change-not-allowed`): a router's gateway
# port may change its addresses, its interfaces may not.
_FIXED_ADDRESS_OWNERS = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:router_centralized_snat",
    "network:router_ha_interface",
    "network:ha_router_replicated_interface",
)


def _refuse_router_ip_change(uow: UnitOfWork, old: Item, fixed: list[dict[str, str]]) -> None:
    """Neutron's IPAM check: the IPv4 addresses of a router interface port of an existing
    router do not change through the port API (the router's own actions do that)."""
    if old["device_owner"] not in _FIXED_ADDRESS_OWNERS:
        return

    def v4(ips: list[dict[str, str]]) -> set[str]:
        return {f["ip_address"] for f in ips if ipaddress.ip_address(f["ip_address"]).version == 4}

    if v4(old["fixed_ips"] or []) == v4(fixed):
        return
    t = router_decl.resource.table
    if uow.execute(sa.select(t.c.id).where(t.c.id == old["device_id"])).first() is not None:
        raise errors.BadPortsRequest(msg=f"IP updates for port {old['id']} are not allowed")


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
