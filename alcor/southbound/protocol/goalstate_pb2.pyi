from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPSERT: _ClassVar[Op]
    DELETE: _ClassVar[Op]

class ProgramState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUCCESS: _ClassVar[ProgramState]
    FAILURE: _ClassVar[ProgramState]
    PENDING: _ClassVar[ProgramState]
    REMOVED: _ClassVar[ProgramState]
UPSERT: Op
DELETE: Op
SUCCESS: ProgramState
FAILURE: ProgramState
PENDING: ProgramState
REMOVED: ProgramState

class NetworkState(_message.Message):
    __slots__ = ("id", "op", "revision", "network_type", "vni", "mtu", "port_security_enabled", "router_external", "project_id", "physical_network", "router_ids", "on_demand", "flood_tunnel_ips")
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    PORT_SECURITY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    ROUTER_EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    ROUTER_IDS_FIELD_NUMBER: _ClassVar[int]
    ON_DEMAND_FIELD_NUMBER: _ClassVar[int]
    FLOOD_TUNNEL_IPS_FIELD_NUMBER: _ClassVar[int]
    id: str
    op: Op
    revision: int
    network_type: str
    vni: int
    mtu: int
    port_security_enabled: bool
    router_external: bool
    project_id: str
    physical_network: str
    router_ids: _containers.RepeatedScalarFieldContainer[str]
    on_demand: bool
    flood_tunnel_ips: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., network_type: _Optional[str] = ..., vni: _Optional[int] = ..., mtu: _Optional[int] = ..., port_security_enabled: _Optional[bool] = ..., router_external: _Optional[bool] = ..., project_id: _Optional[str] = ..., physical_network: _Optional[str] = ..., router_ids: _Optional[_Iterable[str]] = ..., on_demand: _Optional[bool] = ..., flood_tunnel_ips: _Optional[_Iterable[str]] = ...) -> None: ...

class HostRoute(_message.Message):
    __slots__ = ("destination", "nexthop")
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    NEXTHOP_FIELD_NUMBER: _ClassVar[int]
    destination: str
    nexthop: str
    def __init__(self, destination: _Optional[str] = ..., nexthop: _Optional[str] = ...) -> None: ...

class SubnetState(_message.Message):
    __slots__ = ("id", "op", "revision", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp", "dns_nameservers", "host_routes", "gateway_mac", "dns_domain", "ipv6_ra_mode", "ipv6_address_mode")
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_IP_FIELD_NUMBER: _ClassVar[int]
    ENABLE_DHCP_FIELD_NUMBER: _ClassVar[int]
    DNS_NAMESERVERS_FIELD_NUMBER: _ClassVar[int]
    HOST_ROUTES_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_MAC_FIELD_NUMBER: _ClassVar[int]
    DNS_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    IPV6_RA_MODE_FIELD_NUMBER: _ClassVar[int]
    IPV6_ADDRESS_MODE_FIELD_NUMBER: _ClassVar[int]
    id: str
    op: Op
    revision: int
    network_id: str
    ip_version: int
    cidr: str
    gateway_ip: str
    enable_dhcp: bool
    dns_nameservers: _containers.RepeatedScalarFieldContainer[str]
    host_routes: _containers.RepeatedCompositeFieldContainer[HostRoute]
    gateway_mac: str
    dns_domain: str
    ipv6_ra_mode: str
    ipv6_address_mode: str
    def __init__(self, id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., network_id: _Optional[str] = ..., ip_version: _Optional[int] = ..., cidr: _Optional[str] = ..., gateway_ip: _Optional[str] = ..., enable_dhcp: _Optional[bool] = ..., dns_nameservers: _Optional[_Iterable[str]] = ..., host_routes: _Optional[_Iterable[_Union[HostRoute, _Mapping]]] = ..., gateway_mac: _Optional[str] = ..., dns_domain: _Optional[str] = ..., ipv6_ra_mode: _Optional[str] = ..., ipv6_address_mode: _Optional[str] = ...) -> None: ...

class FixedIp(_message.Message):
    __slots__ = ("subnet_id", "ip_address")
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    subnet_id: str
    ip_address: str
    def __init__(self, subnet_id: _Optional[str] = ..., ip_address: _Optional[str] = ...) -> None: ...

class AddressPair(_message.Message):
    __slots__ = ("ip_address", "mac_address")
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ip_address: str
    mac_address: str
    def __init__(self, ip_address: _Optional[str] = ..., mac_address: _Optional[str] = ...) -> None: ...

class DhcpOption(_message.Message):
    __slots__ = ("opt_name", "opt_value", "ip_version")
    OPT_NAME_FIELD_NUMBER: _ClassVar[int]
    OPT_VALUE_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    opt_name: str
    opt_value: str
    ip_version: int
    def __init__(self, opt_name: _Optional[str] = ..., opt_value: _Optional[str] = ..., ip_version: _Optional[int] = ...) -> None: ...

class PortState(_message.Message):
    __slots__ = ("id", "op", "revision", "network_id", "mac_address", "fixed_ips", "admin_state_up", "port_security_enabled", "allowed_address_pairs", "security_group_ids", "extra_dhcp_opts", "device_owner", "device_id", "dns_name", "host_id", "network_acl_id", "floating_ips", "request_id", "inactive")
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FIXED_IPS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    PORT_SECURITY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ADDRESS_PAIRS_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_DHCP_OPTS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_OWNER_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DNS_NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ACL_ID_FIELD_NUMBER: _ClassVar[int]
    FLOATING_IPS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INACTIVE_FIELD_NUMBER: _ClassVar[int]
    id: str
    op: Op
    revision: int
    network_id: str
    mac_address: str
    fixed_ips: _containers.RepeatedCompositeFieldContainer[FixedIp]
    admin_state_up: bool
    port_security_enabled: bool
    allowed_address_pairs: _containers.RepeatedCompositeFieldContainer[AddressPair]
    security_group_ids: _containers.RepeatedScalarFieldContainer[str]
    extra_dhcp_opts: _containers.RepeatedCompositeFieldContainer[DhcpOption]
    device_owner: str
    device_id: str
    dns_name: str
    host_id: str
    network_acl_id: str
    floating_ips: _containers.RepeatedCompositeFieldContainer[FloatingIpState]
    request_id: str
    inactive: bool
    def __init__(self, id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., network_id: _Optional[str] = ..., mac_address: _Optional[str] = ..., fixed_ips: _Optional[_Iterable[_Union[FixedIp, _Mapping]]] = ..., admin_state_up: _Optional[bool] = ..., port_security_enabled: _Optional[bool] = ..., allowed_address_pairs: _Optional[_Iterable[_Union[AddressPair, _Mapping]]] = ..., security_group_ids: _Optional[_Iterable[str]] = ..., extra_dhcp_opts: _Optional[_Iterable[_Union[DhcpOption, _Mapping]]] = ..., device_owner: _Optional[str] = ..., device_id: _Optional[str] = ..., dns_name: _Optional[str] = ..., host_id: _Optional[str] = ..., network_acl_id: _Optional[str] = ..., floating_ips: _Optional[_Iterable[_Union[FloatingIpState, _Mapping]]] = ..., request_id: _Optional[str] = ..., inactive: _Optional[bool] = ...) -> None: ...

class FloatingIpState(_message.Message):
    __slots__ = ("id", "revision", "floating_ip_address", "fixed_ip_address", "router_id", "external_network_id", "physical_network", "external_gateway_ip", "external_cidr", "mac_address")
    ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    FLOATING_IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FIXED_IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROUTER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_GATEWAY_IP_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CIDR_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    id: str
    revision: int
    floating_ip_address: str
    fixed_ip_address: str
    router_id: str
    external_network_id: str
    physical_network: str
    external_gateway_ip: str
    external_cidr: str
    mac_address: str
    def __init__(self, id: _Optional[str] = ..., revision: _Optional[int] = ..., floating_ip_address: _Optional[str] = ..., fixed_ip_address: _Optional[str] = ..., router_id: _Optional[str] = ..., external_network_id: _Optional[str] = ..., physical_network: _Optional[str] = ..., external_gateway_ip: _Optional[str] = ..., external_cidr: _Optional[str] = ..., mac_address: _Optional[str] = ...) -> None: ...

class NeighborState(_message.Message):
    __slots__ = ("port_id", "op", "revision", "network_id", "mac_address", "fixed_ips", "host_id", "tunnel_ip", "allowed_address_pairs")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FIXED_IPS_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_IP_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ADDRESS_PAIRS_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    op: Op
    revision: int
    network_id: str
    mac_address: str
    fixed_ips: _containers.RepeatedCompositeFieldContainer[FixedIp]
    host_id: str
    tunnel_ip: str
    allowed_address_pairs: _containers.RepeatedCompositeFieldContainer[AddressPair]
    def __init__(self, port_id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., network_id: _Optional[str] = ..., mac_address: _Optional[str] = ..., fixed_ips: _Optional[_Iterable[_Union[FixedIp, _Mapping]]] = ..., host_id: _Optional[str] = ..., tunnel_ip: _Optional[str] = ..., allowed_address_pairs: _Optional[_Iterable[_Union[AddressPair, _Mapping]]] = ...) -> None: ...

class SecurityGroupRuleState(_message.Message):
    __slots__ = ("id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id", "icmp_type", "icmp_code")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    ETHERTYPE_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_RANGE_MIN_FIELD_NUMBER: _ClassVar[int]
    PORT_RANGE_MAX_FIELD_NUMBER: _ClassVar[int]
    REMOTE_IP_PREFIX_FIELD_NUMBER: _ClassVar[int]
    REMOTE_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ICMP_TYPE_FIELD_NUMBER: _ClassVar[int]
    ICMP_CODE_FIELD_NUMBER: _ClassVar[int]
    id: str
    direction: str
    ethertype: str
    protocol: str
    port_range_min: int
    port_range_max: int
    remote_ip_prefix: str
    remote_group_id: str
    icmp_type: int
    icmp_code: int
    def __init__(self, id: _Optional[str] = ..., direction: _Optional[str] = ..., ethertype: _Optional[str] = ..., protocol: _Optional[str] = ..., port_range_min: _Optional[int] = ..., port_range_max: _Optional[int] = ..., remote_ip_prefix: _Optional[str] = ..., remote_group_id: _Optional[str] = ..., icmp_type: _Optional[int] = ..., icmp_code: _Optional[int] = ...) -> None: ...

class SecurityGroupState(_message.Message):
    __slots__ = ("id", "op", "revision", "rules", "stateful")
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    STATEFUL_FIELD_NUMBER: _ClassVar[int]
    id: str
    op: Op
    revision: int
    rules: _containers.RepeatedCompositeFieldContainer[SecurityGroupRuleState]
    stateful: bool
    def __init__(self, id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., rules: _Optional[_Iterable[_Union[SecurityGroupRuleState, _Mapping]]] = ..., stateful: _Optional[bool] = ...) -> None: ...

class NetworkAclRuleState(_message.Message):
    __slots__ = ("number", "direction", "ethertype", "protocol", "ip_prefix", "port_range_min", "port_range_max", "icmp_type", "icmp_code", "action")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    ETHERTYPE_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    IP_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PORT_RANGE_MIN_FIELD_NUMBER: _ClassVar[int]
    PORT_RANGE_MAX_FIELD_NUMBER: _ClassVar[int]
    ICMP_TYPE_FIELD_NUMBER: _ClassVar[int]
    ICMP_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    number: int
    direction: str
    ethertype: str
    protocol: str
    ip_prefix: str
    port_range_min: int
    port_range_max: int
    icmp_type: int
    icmp_code: int
    action: str
    def __init__(self, number: _Optional[int] = ..., direction: _Optional[str] = ..., ethertype: _Optional[str] = ..., protocol: _Optional[str] = ..., ip_prefix: _Optional[str] = ..., port_range_min: _Optional[int] = ..., port_range_max: _Optional[int] = ..., icmp_type: _Optional[int] = ..., icmp_code: _Optional[int] = ..., action: _Optional[str] = ...) -> None: ...

class NetworkAclState(_message.Message):
    __slots__ = ("id", "op", "revision", "rules")
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    id: str
    op: Op
    revision: int
    rules: _containers.RepeatedCompositeFieldContainer[NetworkAclRuleState]
    def __init__(self, id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., rules: _Optional[_Iterable[_Union[NetworkAclRuleState, _Mapping]]] = ...) -> None: ...

class AddressSetMember(_message.Message):
    __slots__ = ("port_id", "op", "revision", "ips")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    IPS_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    op: Op
    revision: int
    ips: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, port_id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., ips: _Optional[_Iterable[str]] = ...) -> None: ...

class HostDelta(_message.Message):
    __slots__ = ("host_id", "seq", "prev_seq", "networks", "subnets", "ports", "security_groups", "committed_at", "published_at", "network_acls", "resync")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_SEQ_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    SUBNETS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ACLS_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    seq: int
    prev_seq: int
    networks: _containers.RepeatedCompositeFieldContainer[NetworkState]
    subnets: _containers.RepeatedCompositeFieldContainer[SubnetState]
    ports: _containers.RepeatedCompositeFieldContainer[PortState]
    security_groups: _containers.RepeatedCompositeFieldContainer[SecurityGroupState]
    committed_at: float
    published_at: float
    network_acls: _containers.RepeatedCompositeFieldContainer[NetworkAclState]
    resync: bool
    def __init__(self, host_id: _Optional[str] = ..., seq: _Optional[int] = ..., prev_seq: _Optional[int] = ..., networks: _Optional[_Iterable[_Union[NetworkState, _Mapping]]] = ..., subnets: _Optional[_Iterable[_Union[SubnetState, _Mapping]]] = ..., ports: _Optional[_Iterable[_Union[PortState, _Mapping]]] = ..., security_groups: _Optional[_Iterable[_Union[SecurityGroupState, _Mapping]]] = ..., committed_at: _Optional[float] = ..., published_at: _Optional[float] = ..., network_acls: _Optional[_Iterable[_Union[NetworkAclState, _Mapping]]] = ..., resync: _Optional[bool] = ...) -> None: ...

class HostGoalState(_message.Message):
    __slots__ = ("host_id", "seq", "networks", "subnets", "ports", "security_groups", "network_seqs", "group_seqs", "network_acls", "router_seqs")
    class NetworkSeqsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class GroupSeqsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class RouterSeqsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    SUBNETS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_SEQS_FIELD_NUMBER: _ClassVar[int]
    GROUP_SEQS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ACLS_FIELD_NUMBER: _ClassVar[int]
    ROUTER_SEQS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    seq: int
    networks: _containers.RepeatedCompositeFieldContainer[NetworkState]
    subnets: _containers.RepeatedCompositeFieldContainer[SubnetState]
    ports: _containers.RepeatedCompositeFieldContainer[PortState]
    security_groups: _containers.RepeatedCompositeFieldContainer[SecurityGroupState]
    network_seqs: _containers.ScalarMap[str, int]
    group_seqs: _containers.ScalarMap[str, int]
    network_acls: _containers.RepeatedCompositeFieldContainer[NetworkAclState]
    router_seqs: _containers.ScalarMap[str, int]
    def __init__(self, host_id: _Optional[str] = ..., seq: _Optional[int] = ..., networks: _Optional[_Iterable[_Union[NetworkState, _Mapping]]] = ..., subnets: _Optional[_Iterable[_Union[SubnetState, _Mapping]]] = ..., ports: _Optional[_Iterable[_Union[PortState, _Mapping]]] = ..., security_groups: _Optional[_Iterable[_Union[SecurityGroupState, _Mapping]]] = ..., network_seqs: _Optional[_Mapping[str, int]] = ..., group_seqs: _Optional[_Mapping[str, int]] = ..., network_acls: _Optional[_Iterable[_Union[NetworkAclState, _Mapping]]] = ..., router_seqs: _Optional[_Mapping[str, int]] = ...) -> None: ...

class NeighborDelta(_message.Message):
    __slots__ = ("network_id", "seq", "prev_seq", "neighbors", "committed_at", "published_at")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_SEQ_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    seq: int
    prev_seq: int
    neighbors: _containers.RepeatedCompositeFieldContainer[NeighborState]
    committed_at: float
    published_at: float
    def __init__(self, network_id: _Optional[str] = ..., seq: _Optional[int] = ..., prev_seq: _Optional[int] = ..., neighbors: _Optional[_Iterable[_Union[NeighborState, _Mapping]]] = ..., committed_at: _Optional[float] = ..., published_at: _Optional[float] = ...) -> None: ...

class NeighborTable(_message.Message):
    __slots__ = ("network_id", "seq", "neighbors", "chunk", "chunks")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    seq: int
    neighbors: _containers.RepeatedCompositeFieldContainer[NeighborState]
    chunk: int
    chunks: int
    def __init__(self, network_id: _Optional[str] = ..., seq: _Optional[int] = ..., neighbors: _Optional[_Iterable[_Union[NeighborState, _Mapping]]] = ..., chunk: _Optional[int] = ..., chunks: _Optional[int] = ...) -> None: ...

class AddressSetDelta(_message.Message):
    __slots__ = ("group_id", "seq", "prev_seq", "members", "committed_at", "published_at")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_SEQ_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    seq: int
    prev_seq: int
    members: _containers.RepeatedCompositeFieldContainer[AddressSetMember]
    committed_at: float
    published_at: float
    def __init__(self, group_id: _Optional[str] = ..., seq: _Optional[int] = ..., prev_seq: _Optional[int] = ..., members: _Optional[_Iterable[_Union[AddressSetMember, _Mapping]]] = ..., committed_at: _Optional[float] = ..., published_at: _Optional[float] = ...) -> None: ...

class AddressSet(_message.Message):
    __slots__ = ("group_id", "seq", "members", "chunk", "chunks")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    seq: int
    members: _containers.RepeatedCompositeFieldContainer[AddressSetMember]
    chunk: int
    chunks: int
    def __init__(self, group_id: _Optional[str] = ..., seq: _Optional[int] = ..., members: _Optional[_Iterable[_Union[AddressSetMember, _Mapping]]] = ..., chunk: _Optional[int] = ..., chunks: _Optional[int] = ...) -> None: ...

class RouterInterface(_message.Message):
    __slots__ = ("port_id", "network_id", "subnet_id", "vni", "mac_address", "ip_address", "cidr", "ip_version", "on_demand", "address_scope_id")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    ON_DEMAND_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_SCOPE_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    network_id: str
    subnet_id: str
    vni: int
    mac_address: str
    ip_address: str
    cidr: str
    ip_version: int
    on_demand: bool
    address_scope_id: str
    def __init__(self, port_id: _Optional[str] = ..., network_id: _Optional[str] = ..., subnet_id: _Optional[str] = ..., vni: _Optional[int] = ..., mac_address: _Optional[str] = ..., ip_address: _Optional[str] = ..., cidr: _Optional[str] = ..., ip_version: _Optional[int] = ..., on_demand: _Optional[bool] = ..., address_scope_id: _Optional[str] = ...) -> None: ...

class PortForwardingState(_message.Message):
    __slots__ = ("id", "floatingip_id", "floating_ip_address", "mac_address", "protocol", "external_port_min", "external_port_max", "internal_ip_address", "internal_port_min", "internal_port_max")
    ID_FIELD_NUMBER: _ClassVar[int]
    FLOATINGIP_ID_FIELD_NUMBER: _ClassVar[int]
    FLOATING_IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_PORT_MIN_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_PORT_MAX_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_PORT_MIN_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_PORT_MAX_FIELD_NUMBER: _ClassVar[int]
    id: str
    floatingip_id: str
    floating_ip_address: str
    mac_address: str
    protocol: str
    external_port_min: int
    external_port_max: int
    internal_ip_address: str
    internal_port_min: int
    internal_port_max: int
    def __init__(self, id: _Optional[str] = ..., floatingip_id: _Optional[str] = ..., floating_ip_address: _Optional[str] = ..., mac_address: _Optional[str] = ..., protocol: _Optional[str] = ..., external_port_min: _Optional[int] = ..., external_port_max: _Optional[int] = ..., internal_ip_address: _Optional[str] = ..., internal_port_min: _Optional[int] = ..., internal_port_max: _Optional[int] = ...) -> None: ...

class RouterState(_message.Message):
    __slots__ = ("id", "op", "revision", "admin_state_up", "interfaces", "routes", "project_id", "gateway", "port_forwardings")
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    PORT_FORWARDINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    op: Op
    revision: int
    admin_state_up: bool
    interfaces: _containers.RepeatedCompositeFieldContainer[RouterInterface]
    routes: _containers.RepeatedCompositeFieldContainer[HostRoute]
    project_id: str
    gateway: RouterGateway
    port_forwardings: _containers.RepeatedCompositeFieldContainer[PortForwardingState]
    def __init__(self, id: _Optional[str] = ..., op: _Optional[_Union[Op, str]] = ..., revision: _Optional[int] = ..., admin_state_up: _Optional[bool] = ..., interfaces: _Optional[_Iterable[_Union[RouterInterface, _Mapping]]] = ..., routes: _Optional[_Iterable[_Union[HostRoute, _Mapping]]] = ..., project_id: _Optional[str] = ..., gateway: _Optional[_Union[RouterGateway, _Mapping]] = ..., port_forwardings: _Optional[_Iterable[_Union[PortForwardingState, _Mapping]]] = ...) -> None: ...

class RouterGateway(_message.Message):
    __slots__ = ("network_id", "physical_network", "ip_address", "mac_address", "cidr", "next_hop", "enable_snat", "snat_host", "snat_tunnel_ip", "port_id")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    NEXT_HOP_FIELD_NUMBER: _ClassVar[int]
    ENABLE_SNAT_FIELD_NUMBER: _ClassVar[int]
    SNAT_HOST_FIELD_NUMBER: _ClassVar[int]
    SNAT_TUNNEL_IP_FIELD_NUMBER: _ClassVar[int]
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    physical_network: str
    ip_address: str
    mac_address: str
    cidr: str
    next_hop: str
    enable_snat: bool
    snat_host: str
    snat_tunnel_ip: str
    port_id: str
    def __init__(self, network_id: _Optional[str] = ..., physical_network: _Optional[str] = ..., ip_address: _Optional[str] = ..., mac_address: _Optional[str] = ..., cidr: _Optional[str] = ..., next_hop: _Optional[str] = ..., enable_snat: _Optional[bool] = ..., snat_host: _Optional[str] = ..., snat_tunnel_ip: _Optional[str] = ..., port_id: _Optional[str] = ...) -> None: ...

class RouterDelta(_message.Message):
    __slots__ = ("router_id", "seq", "prev_seq", "routers", "committed_at", "published_at")
    ROUTER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_SEQ_FIELD_NUMBER: _ClassVar[int]
    ROUTERS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    router_id: str
    seq: int
    prev_seq: int
    routers: _containers.RepeatedCompositeFieldContainer[RouterState]
    committed_at: float
    published_at: float
    def __init__(self, router_id: _Optional[str] = ..., seq: _Optional[int] = ..., prev_seq: _Optional[int] = ..., routers: _Optional[_Iterable[_Union[RouterState, _Mapping]]] = ..., committed_at: _Optional[float] = ..., published_at: _Optional[float] = ...) -> None: ...

class RouterStateRequest(_message.Message):
    __slots__ = ("router_id", "host_id")
    ROUTER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    router_id: str
    host_id: str
    def __init__(self, router_id: _Optional[str] = ..., host_id: _Optional[str] = ...) -> None: ...

class HostStateRequest(_message.Message):
    __slots__ = ("host_id",)
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    def __init__(self, host_id: _Optional[str] = ...) -> None: ...

class ResolveQuery(_message.Message):
    __slots__ = ("network_id", "ip_address", "mac_address")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    ip_address: str
    mac_address: str
    def __init__(self, network_id: _Optional[str] = ..., ip_address: _Optional[str] = ..., mac_address: _Optional[str] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("host_id", "queries")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    queries: _containers.RepeatedCompositeFieldContainer[ResolveQuery]
    def __init__(self, host_id: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[ResolveQuery, _Mapping]]] = ...) -> None: ...

class ResolveReply(_message.Message):
    __slots__ = ("neighbors", "unknown", "direct")
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    DIRECT_FIELD_NUMBER: _ClassVar[int]
    neighbors: _containers.RepeatedCompositeFieldContainer[NeighborState]
    unknown: _containers.RepeatedCompositeFieldContainer[ResolveQuery]
    direct: DirectChannel
    def __init__(self, neighbors: _Optional[_Iterable[_Union[NeighborState, _Mapping]]] = ..., unknown: _Optional[_Iterable[_Union[ResolveQuery, _Mapping]]] = ..., direct: _Optional[_Union[DirectChannel, _Mapping]] = ...) -> None: ...

class DirectChannel(_message.Message):
    __slots__ = ("address", "key")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    address: str
    key: bytes
    def __init__(self, address: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class DirectRequest(_message.Message):
    __slots__ = ("host_id", "id", "sent_at", "queries")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    id: int
    sent_at: float
    queries: _containers.RepeatedCompositeFieldContainer[ResolveQuery]
    def __init__(self, host_id: _Optional[str] = ..., id: _Optional[int] = ..., sent_at: _Optional[float] = ..., queries: _Optional[_Iterable[_Union[ResolveQuery, _Mapping]]] = ...) -> None: ...

class DirectReply(_message.Message):
    __slots__ = ("id", "reply")
    ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    id: int
    reply: ResolveReply
    def __init__(self, id: _Optional[int] = ..., reply: _Optional[_Union[ResolveReply, _Mapping]] = ...) -> None: ...

class NeighborTableRequest(_message.Message):
    __slots__ = ("network_id", "host_id")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    host_id: str
    def __init__(self, network_id: _Optional[str] = ..., host_id: _Optional[str] = ...) -> None: ...

class AddressSetRequest(_message.Message):
    __slots__ = ("group_id", "host_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    host_id: str
    def __init__(self, group_id: _Optional[str] = ..., host_id: _Optional[str] = ...) -> None: ...

class AgentInfo(_message.Message):
    __slots__ = ("host_id", "tunnel_ip", "tunnel_types", "datapath_type", "agent_version", "agent_type", "binary", "configurations", "started_at", "bridge_mappings")
    class ConfigurationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class BridgeMappingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_IP_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_TYPES_FIELD_NUMBER: _ClassVar[int]
    DATAPATH_TYPE_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATIONS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    BRIDGE_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    tunnel_ip: str
    tunnel_types: _containers.RepeatedScalarFieldContainer[str]
    datapath_type: str
    agent_version: str
    agent_type: str
    binary: str
    configurations: _containers.ScalarMap[str, str]
    started_at: float
    bridge_mappings: _containers.ScalarMap[str, str]
    def __init__(self, host_id: _Optional[str] = ..., tunnel_ip: _Optional[str] = ..., tunnel_types: _Optional[_Iterable[str]] = ..., datapath_type: _Optional[str] = ..., agent_version: _Optional[str] = ..., agent_type: _Optional[str] = ..., binary: _Optional[str] = ..., configurations: _Optional[_Mapping[str, str]] = ..., started_at: _Optional[float] = ..., bridge_mappings: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("host_id", "sent_at", "applied_seq", "digests")
    class DigestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    sent_at: float
    applied_seq: int
    digests: _containers.ScalarMap[str, str]
    def __init__(self, host_id: _Optional[str] = ..., sent_at: _Optional[float] = ..., applied_seq: _Optional[int] = ..., digests: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RegisterReply(_message.Message):
    __slots__ = ("ok", "error", "heartbeat_interval_ms")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    heartbeat_interval_ms: int
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class ResourceStatus(_message.Message):
    __slots__ = ("resource_type", "id", "revision", "state", "reason", "received_at", "programmed_at", "request_id")
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    PROGRAMMED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    resource_type: str
    id: str
    revision: int
    state: ProgramState
    reason: str
    received_at: float
    programmed_at: float
    request_id: str
    def __init__(self, resource_type: _Optional[str] = ..., id: _Optional[str] = ..., revision: _Optional[int] = ..., state: _Optional[_Union[ProgramState, str]] = ..., reason: _Optional[str] = ..., received_at: _Optional[float] = ..., programmed_at: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class StatusReport(_message.Message):
    __slots__ = ("host_id", "statuses", "sent_at")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    statuses: _containers.RepeatedCompositeFieldContainer[ResourceStatus]
    sent_at: float
    def __init__(self, host_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[ResourceStatus, _Mapping]]] = ..., sent_at: _Optional[float] = ...) -> None: ...
