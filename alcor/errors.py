"""Neutron's exception vocabulary: each error a client can see, with its HTTP code.

Names and messages follow neutron-lib (`neutron_lib.exceptions` and the extensions' own
exceptions) because clients match on the `type` field of `{"NeutronError": {"type",
"message", "detail"}}`: openstacksdk maps the code, Nova and Heat match the type name, test
suites compare messages. As in neutron-lib, an error is a class with a message template and
is raised with the template's fields (`raise NetworkInUse(net_id=...)`); the type name is the
class name. Any layer raises these; only the API renders them.
"""

from __future__ import annotations

from typing import Any


class NeutronError(Exception):
    """Base: rendered as a Neutron error body with `code`.

    Either a message is given (`BadRequest("...")`), or the class's `message` template is
    filled from keyword arguments (`NetworkInUse(net_id=...)`).
    """

    code: int = 500
    message: str = "An unknown exception occurred."
    type_name: str | None = None  # the `type` clients see; None: the class name
    headers: dict[str, str] | None = None  # extra response headers (a 401's WWW-Authenticate)

    def __init__(self, message: str | None = None, detail: str = "", **fields: Any) -> None:
        text = message if message is not None else type(self).message.format(**fields)
        super().__init__(text)
        self.message = text
        self.detail = detail
        self.fields = fields

    @property
    def type(self) -> str:
        return self.type_name or type(self).__name__

    def body(self) -> dict[str, Any]:
        return {"NeutronError": {"type": self.type, "message": self.message, "detail": self.detail}}


# -- HTTP classes -------------------------------------------------------------------------


class BadRequest(NeutronError):
    code = 400
    type_name: str | None = "HTTPBadRequest"
    message = "Bad {resource} request: {msg}."


class Unauthenticated(NeutronError):
    """No token, or one Keystone does not accept (keystonemiddleware's 401)."""

    code = 401
    type_name: str | None = "HTTPUnauthorized"
    message = "The request you have made requires authentication."


class NotAuthorized(NeutronError):
    code = 403
    type_name: str | None = "HTTPForbidden"
    message = "Not authorized."


class NotFound(NeutronError):
    code = 404
    type_name: str | None = "HTTPNotFound"
    message = "The resource could not be found."


class MethodNotAllowed(NeutronError):
    code = 405
    type_name: str | None = "HTTPMethodNotAllowed"
    message = "The method {method} is not allowed for this resource."


class Conflict(NeutronError):
    code = 409
    type_name: str | None = "HTTPConflict"
    message = "The request conflicts with a concurrent change; retry it."


class PreconditionFailed(NeutronError):
    code = 412
    type_name: str | None = "PreconditionFailed"


class NotImplementedByServer(NeutronError):
    code = 501
    type_name: str | None = "HTTPNotImplemented"


class ServiceUnavailable(NeutronError):
    code = 503
    type_name: str | None = "ServiceUnavailable"


class InternalServerError(NeutronError):
    type_name: str | None = "HTTPInternalServerError"
    message = "Request Failed: internal server error while processing your request."


# -- generic -----------------------------------------------------------------------------


class InvalidInput(BadRequest):
    type_name = None
    message = "Invalid input for operation: {error_message}."


class MalformedRequestBody(BadRequest):
    type_name = None
    message = "Malformed request body: {reason}"


class PolicyNotAuthorized(NotAuthorized):
    type_name = None
    message = "{action} is disallowed by policy"


class RevisionNumberConstraintFailed(PreconditionFailed):
    type_name = None
    message = "Constrained to {expected}, but current revision is {current}"


class OverQuota(Conflict):
    type_name = None
    message = "Quota exceeded for resources: ['{overs}']."


class InUse(Conflict):
    type_name = None
    message = "The {resource} {id} is in use."


class ExtensionNotFound(NotFound):
    type_name = None
    message = "Extension with alias {alias} does not exist"


class TagNotFound(NotFound):
    type_name = None
    message = "Tag {tag} could not be found for {resource} {resource_id}."


# -- networks, subnets, addresses ----------------------------------------------------------


class NetworkInUse(InUse):
    message = (
        "Unable to complete operation on network {net_id}. There are one or more ports "
        "still in use on the network."
    )


class ExternalNetworkInUse(InUse):
    message = (
        "External network {net_id} cannot be updated to be made non-external, since it has "
        "existing gateway ports."
    )


class RbacPolicyInUse(Conflict):
    type_name = None
    message = (
        "RBAC policy on object {object_id} cannot be removed because other objects depend "
        "on it.\nDetails: {details}"
    )


class DuplicateRbacPolicy(Conflict):
    type_name = None
    message = "An RBAC policy already exists with those values."


class RbacPolicyNotFound(NotFound):
    type_name = None
    message = "RBAC policy of type {object_type} with ID {id} not found"


class InvalidActionForType(InvalidInput):
    type_name = None
    message = (
        "Invalid action '{action}' for object type '{object_type}'. Valid actions: {valid_actions}"
    )


class InvalidSharedSetting(Conflict):
    type_name = None
    message = (
        "Unable to reconfigure sharing settings for network {network}. Multiple tenants are "
        "using it."
    )


class SegmentationIdInUse(Conflict):
    type_name = None
    message = "Unable to create the network. The VXLAN {seg_id} is in use."


class FlatNetworkInUse(InUse):
    message = "Unable to create the flat network. Physical network {physical_network} is in use."


class NoNetworkAvailable(ServiceUnavailable):
    type_name = None
    message = "Unable to create the network. No tenant network is available for allocation."


class SubnetInUse(InUse):
    message = (
        "Unable to complete operation on subnet {subnet_id}: One or more ports have an IP "
        "allocation from this subnet."
    )


class InvalidAllocationPool(BadRequest):
    type_name = None
    message = "The allocation pool {pool} is not valid."


class OutOfBoundsAllocationPool(BadRequest):
    type_name = None
    message = "The allocation pool {pool} spans beyond the subnet cidr {subnet_cidr}."


class OverlappingAllocationPools(BadRequest):
    type_name = None
    message = "Found overlapping allocation pools for subnet {subnet_cidr}."


class GatewayConflictWithAllocationPools(Conflict):
    type_name = None
    message = "Gateway ip {ip_address} conflicts with allocation pool"


class GatewayIpInUse(InUse):
    message = "Current gateway ip {ip_address} already in use by port {port_id}. Unable to update."


class IpAddressInUse(InUse):
    message = (
        "Unable to complete operation for network {net_id}. The IP address {ip_address} is in use."
    )


class IpAddressGenerationFailure(Conflict):
    type_name = None
    message = "No more IP addresses available on {where}."


class IpAddressGenerationFailureNoMatchingSubnet(IpAddressGenerationFailure):
    message = (
        "No valid service subnet for the given device owner, network {network_id}, "
        "service type {service_type}."
    )


class InvalidIpForSubnet(BadRequest):
    type_name = None
    message = "IP address {ip_address} is not a valid IP for the specified subnet."


class InvalidIpForNetwork(BadRequest):
    type_name = None
    message = (
        "IP address {ip_address} is not a valid IP for any of the subnets on the specified network."
    )


# -- ports ---------------------------------------------------------------------------------


class MacAddressInUse(InUse):
    message = "Unable to complete operation for network {net_id}. The mac address {mac} is in use."


class MacAddressGenerationFailure(ServiceUnavailable):
    type_name = None
    message = "Unable to generate unique mac on network {net_id}."


class PortInUse(InUse):
    message = (
        "Unable to complete operation on port {port_id} for network {net_id}. Port already "
        "has an attached device {device_id}."
    )


class ServicePortInUse(InUse):
    message = "Port {port_id} cannot be deleted directly via the port API: {reason}."


class PortBound(InUse):
    message = (
        "Unable to complete operation on port {port_id}, port is already bound, port type: "
        "{vif_type}, old_mac {old_mac}, new_mac {new_mac}."
    )


class PortSecurityAndIPRequiredForSecurityGroups(InUse):
    message = (
        "Port security must be enabled and port must have an IP address in order to use "
        "security groups."
    )


class AddressPairAndPortSecurityRequired(Conflict):
    type_name = None
    message = "Port Security must be enabled in order to have allowed address pairs on a port."


# -- security groups -----------------------------------------------------------------------


class SecurityGroupNotFound(NotFound):
    type_name = None
    message = "Security group {id} does not exist"


class SecurityGroupRuleNotFound(NotFound):
    type_name = None
    message = "Security group rule {id} does not exist"


class SecurityGroupInUse(InUse):
    message = "Security Group {id} in use.{reason}"


class NetworkMTUSubnetConflict(Conflict):
    type_name = None
    message = "MTU of {net_id} is not valid, subnet requires a minimum of {mtu}"


class SecurityGroupConflict(Conflict):
    type_name = None
    message = "Error {reason} while attempting the operation."


class SecurityGroupDefaultAlreadyExists(InUse):
    message = "Default security group already exists."


class SecurityGroupCannotUpdateDefault(InUse):
    message = "Updating default security group not allowed."


class SecurityGroupCannotRemoveDefault(InUse):
    message = "Insufficient rights for removing default security group."


class SecurityGroupRuleExists(InUse):
    message = "Security group rule already exists. Rule id is {rule_id}."


class DuplicateSecurityGroupRuleInPost(InUse):
    message = "Duplicate Security Group Rule in POST."


class SecurityGroupRuleInvalidEtherType(InvalidInput):
    message = (
        "Security group rule for ethertype '{ethertype}' not supported. Allowed values are "
        "{values}."
    )


class SecurityGroupRuleInvalidProtocol(InvalidInput):
    message = (
        "Security group rule protocol {protocol} not supported. Only protocol values "
        "{values} and integer representations [0 to 255] are supported."
    )


class SecurityGroupProtocolRequiredWithPorts(InvalidInput):
    message = "Must also specify protocol if port range is given."


class SecurityGroupInvalidPortValue(InvalidInput):
    message = "Invalid value for port {port}"


class SecurityGroupInvalidPortRange(InvalidInput):
    message = "For TCP/UDP protocols, port_range_min must be <= port_range_max"


class SecurityGroupInvalidIcmpValue(InvalidInput):
    message = "Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255."


class SecurityGroupMissingIcmpType(InvalidInput):
    message = (
        "ICMP code (port-range-max) {value} is provided but ICMP type (port-range-min) is missing."
    )


class SecurityGroupInvalidProtocolForPort(InvalidInput):
    message = (
        "Invalid protocol {protocol} for port range, only supported for TCP, UDP, UDPLITE, "
        "SCTP and DCCP."
    )


class SecurityGroupEthertypeConflictWithProtocol(InvalidInput):
    message = "Invalid ethertype {ethertype} for protocol {protocol}."


class SecurityGroupRuleParameterConflict(InvalidInput):
    message = "Conflicting value ethertype {ethertype} for CIDR {cidr}"


class SecurityGroupMultipleRemoteEntites(InvalidInput):
    message = (
        "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be "
        "provided."
    )


class DefaultSecurityGroupRuleNotFound(NotFound):
    type_name = None
    message = "Default Security Group rule {id} does not exist"


class DefaultSecurityGroupRuleExists(InUse):
    message = "Default Security group rule already exists. Rule id is {rule_id}."


class SecurityGroupNotSingleGroupRules(InvalidInput):
    message = "Only allowed to update rules for one security profile at a time"


class SecurityGroupRulesNotSingleTenant(InvalidInput):
    message = "Multiple tenant_ids in bulk security group rule create not allowed"


# -- availability zones --------------------------------------------------------------------


class AvailabilityZoneNotFound(NotFound):
    type_name = None
    message = "AvailabilityZone {availability_zone} could not be found."


# -- subnet pools ------------------------------------------------------------------------


class SubnetPoolNotFound(NotFound):
    type_name = None
    message = "Subnet pool {subnetpool_id} could not be found."


class SubnetPoolDeleteError(BadRequest):
    type_name = None
    message = "Unable to delete subnet pool: {reason}."


class SubnetAllocationError(Conflict):
    """Neutron's is a plain NeutronException (a 500); a pool without room is a conflict with
    the pool's state, so it is a 409 here."""

    type_name = None
    message = "Failed to allocate subnet: {reason}."


class MaxPrefixSubnetAllocationError(BadRequest):
    type_name = None
    message = (
        "Unable to allocate subnet with prefix length {prefixlen}, maximum allowed prefix is "
        "{max_prefixlen}."
    )


class MinPrefixSubnetAllocationError(BadRequest):
    type_name = None
    message = (
        "Unable to allocate subnet with prefix length {prefixlen}, minimum allowed prefix is "
        "{min_prefixlen}."
    )


class SubnetPoolQuotaExceeded(OverQuota):
    type_name = None
    message = "Per-project subnet pool prefix quota exceeded."


class EmptySubnetPoolPrefixList(BadRequest):
    type_name = None
    message = "Empty subnet pool prefix list."


class PrefixVersionMismatch(BadRequest):
    type_name = None
    message = "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."


class IllegalSubnetPoolPrefixBounds(BadRequest):
    type_name = None
    message = (
        "Illegal prefix bounds: {prefix_type}={prefixlen}, {base_prefix_type}={base_prefixlen}."
    )


class IllegalSubnetPoolPrefixUpdate(BadRequest):
    type_name = None
    message = "Illegal update to prefixes: {msg}."


class IllegalSubnetPoolUpdate(BadRequest):
    type_name = None
    message = "Illegal subnetpool update : {reason}."


class NetworkSubnetPoolAffinityError(BadRequest):
    type_name = None
    message = "Subnets hosted on the same network must be allocated from the same subnet pool."


# -- address groups ------------------------------------------------------------------------


class AddressGroupInUse(InUse):
    message = "Address group {address_group_id} is in use on one or more security group rules."


class AddressesNotFound(NotFound):
    type_name = None
    message = "Addresses {addresses} not found in the address group {address_group_id}."


class AddressesAlreadyExist(BadRequest):
    type_name = None
    message = "Addresses {addresses} already exist in the address group {address_group_id}."


# -- routers and floating IPs ----------------------------------------------------------------


class BadRouterRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad router request: {msg}."


class BadPortsRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad ports request: {msg}."


class BadIfMatchRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad if-match request: {msg}."


class BadFloatingIpRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad floatingip request: {msg}."


class BadSubnetsRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad subnets request: {msg}."


class RouterInUse(InUse):
    message = "Router {router_id} {reason}"


class RouterInterfaceNotFound(NotFound):
    type_name = None
    message = "Router {router_id} does not have an interface with id {port_id}"


class RouterInterfaceNotFoundForSubnet(NotFound):
    type_name = None
    message = "Router {router_id} has no interface on subnet {subnet_id}"


class SubnetMismatchForPort(BadRequest):
    type_name = None
    message = "Subnet on port {port_id} does not match the requested subnet {subnet_id}."


class RouterInterfaceInUseByFloatingIP(InUse):
    message = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as "
        "it is required by one or more floating IPs."
    )


class RouterInterfaceInUseByRoute(InUse):
    message = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as "
        "it is required by one or more routes."
    )


class RouterExternalGatewayInUseByFloatingIp(InUse):
    message = (
        "Gateway cannot be updated for router {router_id}, since a gateway to external "
        "network {net_id} is required by one or more floating IPs."
    )


class RoutesExhausted(BadRequest):
    type_name = None
    message = (
        "Unable to complete operation for {router_id}. The number of routes exceeds the "
        "maximum {quota}."
    )


class InvalidRoutes(InvalidInput):
    message = "Invalid format for routes: {routes}, {reason}."


class ExternalGatewayForFloatingIPNotFound(NotFound):
    type_name = None
    message = (
        "External network {external_network_id} is not reachable from subnet {subnet_id}.  "
        "Therefore, cannot associate Port {port_id} with a Floating IP."
    )


class FloatingIPPortAlreadyAssociated(InUse):
    message = (
        "Cannot associate floating IP {floating_ip_address} ({fip_id}) with port {port_id} "
        "using fixed IP {fixed_ip}, as that fixed IP already has a floating IP on external "
        "network {net_id}."
    )


# -- address scopes (neutron_lib.exceptions.address_scope) ---------------------------------


class AddressScopeNotFound(NotFound):
    type_name = None
    message = "Address scope {address_scope_id} could not be found."


class AddressScopeInUse(InUse):
    message = (
        "Unable to complete operation on address scope {address_scope_id}. There are one or "
        "more subnet pools in use on the address scope."
    )


class AddressScopeUpdateError(BadRequest):
    type_name = None
    message = "Unable to update address scope {address_scope_id} : {reason}."


class AddressScopePrefixConflict(Conflict):
    type_name = None
    message = (
        "Failed to associate address scope: subnetpools within an address scope must have "
        "unique prefixes."
    )


class IllegalSubnetPoolAssociationToAddressScope(BadRequest):
    type_name = None
    message = (
        "Illegal subnetpool association: subnetpool {subnetpool_id} cannot be associated "
        "with address scope {address_scope_id}."
    )


class IllegalSubnetPoolIpVersionAssociationToAddressScope(BadRequest):
    type_name = None
    message = (
        "Illegal subnetpool association: subnetpool {subnetpool_id} cannot associate with "
        "address scope {address_scope_id} because subnetpool ip_version is not {ip_version}."
    )


class NetworkAddressScopeAffinityError(BadRequest):
    type_name = None
    message = (
        "Subnets of the same address family hosted on the same network must all participate "
        "in the same address scope."
    )


# -- port forwarding (neutron.services.portforwarding.common.exceptions) --------------------


class BadPortForwardingRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad port_forwarding request: {msg}."


class PortForwardingNotFound(NotFound):
    type_name = None
    message = "Port Forwarding {id} could not be found."


class PortForwardingNotSupportFilterField(BadRequest):
    type_name = None
    message = "Port Forwarding filter {filter} is not supported."


class PortHasPortForwarding(BadRequest):
    type_name = None
    message = (
        "Cannot associate floating IP to port {port_id} because it already has a "
        "Port Forwarding binding."
    )


class FipInUseByPortForwarding(InUse):
    message = "Floating IP {id} in use by Port Forwarding resources."


class PortHasBindingFloatingIP(InUse):
    message = (
        "Cannot create port forwarding to floating IP {floating_ip_address} ({fip_id}) with "
        "port {port_id} using fixed IP {fixed_ip}, as that port already has a binding "
        "floating IP."
    )


# -- network ACLs (Alcor extension) --------------------------------------------------------


class NetworkAclInUse(InUse):
    message = "Network ACL {id} is associated with subnets or ports; disassociate them first."


class NetworkAclDefaultInUse(InUse):
    message = (
        "Network ACL {id} is the default ACL of network {network_id}; it goes with the network."
    )


class NetworkAclRuleNumberInUse(InUse):
    message = "Network ACL {acl_id} already has {direction} rule number {number} ({rule_id})."


class SubnetAlreadyAssociatedWithNetworkAcl(InUse):
    message = (
        "Subnet {subnet_id} is already associated with network ACL {acl_id}; remove it there first."
    )


class PortAlreadyAssociatedWithNetworkAcl(InUse):
    message = (
        "Port {port_id} is already associated with network ACL {acl_id}; remove it there first."
    )


class NetworkAclRuleParameterConflict(InvalidInput):
    message = "Conflicting value ethertype {ethertype} for ip_prefix {prefix}"


class NetworkAclRuleInvalidPortRange(InvalidInput):
    message = "{msg}"


class NetworkAclRuleInvalidIcmp(InvalidInput):
    message = "{msg}"


class NetworkAclDefaultAssociation(InvalidInput):
    message = (
        "The default network ACL covers every subnet and port without an ACL; associate "
        "them with a custom ACL instead."
    )


class NetworkAclSubnetNotInNetwork(InvalidInput):
    message = "Subnet {subnet_id} is not a subnet of network {network_id}."


class NetworkAclPortNotInNetwork(InvalidInput):
    message = "Port {port_id} is not a port of network {network_id}."


# -- port bindings (binding-extended) --------------------------------------------------------


class BadPortRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad port request: {msg}."


class PortBindingNotFound(NotFound):
    type_name = None
    message = "Binding for port {port_id} for host {host} could not be found."


class PortBindingAlreadyActive(Conflict):
    type_name = None
    message = "Binding for port {port_id} on host {host} is already active."


class PortBindingAlreadyExists(Conflict):
    type_name = None
    message = "Binding for port {port_id} on host {host} already exists."


class PortBindingError(NeutronError):
    """A plain NeutronException in neutron-lib: a 500, what Nova expects of a host that
    cannot bind."""

    message = "Binding for port {port_id} on host {host} could not be created or updated."


# -- auto-allocated topology -------------------------------------------------------------------


class NeutronNotAuthorized(NotAuthorized):
    """neutron-lib's NotAuthorized (a 403 named so), not the policy's PolicyNotAuthorized."""

    type_name = "NotAuthorized"


class BadAutoAllocateRequest(BadRequest):
    type_name = "BadRequest"
    message = "Bad auto_allocate request: {msg}."


class AutoAllocationFailure(Conflict):
    type_name = None
    message = "Deployment error: {reason}."


class DefaultExternalNetworkExists(Conflict):
    type_name = None
    message = "A default external network already exists: {net_id}."


_NOT_FOUND: dict[str, type[NotFound]] = {}


def not_found(resource: str, rid: str) -> NotFound:
    """`<Resource>NotFound` as neutron-lib names it (NetworkNotFound, PortNotFound...)."""
    cls = _NOT_FOUND.get(resource)
    if cls is None:
        camel = "".join(p.capitalize() for p in resource.split("_"))
        cls = _NOT_FOUND[resource] = type(f"{camel}NotFound", (NotFound,), {"type_name": None})
    return cls(f"{camel_words(resource)} {rid} could not be found.")


def camel_words(resource: str) -> str:
    """'security_group' -> 'Security group' (Neutron's wording in messages)."""
    words = resource.replace("_", " ")
    return words[:1].upper() + words[1:]
