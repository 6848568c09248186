"""Random MAC addresses in Neutron's style.

Neutron's `base_mac` (default "fa:16:3e:00:00:00") fixes the first three octets (a locally
administered unicast OUI) and every later octet that is not "00"; the "00" octets are random.
Uniqueness within a network is enforced by the port table's unique constraint, not here:
with 24 random bits a collision is rare and the caller simply draws again, which is cheaper
than keeping an allocator row per MAC.
"""

from __future__ import annotations

import re

from alcor.store.entropy import random_bytes

DEFAULT_BASE = "fa:16:3e:00:00:00"
_MAC_RE = re.compile(r"^([0-9a-f]{2})(:[0-9a-f]{2}){5}$")


def parse_base(base: str) -> list[str]:
    base = base.strip().lower()
    if not _MAC_RE.match(base):
        raise ValueError(f"invalid base MAC {base!r}")
    return base.split(":")


def random_mac(base: str = DEFAULT_BASE) -> str:
    """A MAC with `base`'s first three octets and its non-"00" later octets; the rest random."""
    octets = parse_base(base)
    drawn = random_bytes(3)
    for i in range(3, 6):
        if octets[i] == "00":
            octets[i] = f"{drawn[i - 3]:02x}"
    return ":".join(octets)


def valid_mac(mac: str) -> bool:
    """True for a unicast MAC in colon notation (Neutron rejects multicast/zero MACs)."""
    mac = mac.strip().lower()
    if not _MAC_RE.match(mac):
        return False
    first = int(mac[:2], 16)
    return not (first & 1) and mac != "00:00:00:00:00:00"


def canonical_mac(mac: str) -> str:
    """Lower-case colon notation (accepts "-" separators); raises ValueError if invalid."""
    text = mac.strip().lower().replace("-", ":")
    if not _MAC_RE.match(text):
        raise ValueError(f"invalid MAC address {mac!r}")
    return text
