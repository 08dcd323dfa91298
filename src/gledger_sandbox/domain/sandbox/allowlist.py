"""Which client networks may use a tenant's credentials (the high-trust partner option).

A tenant's list is empty by default: any address may call. Once set, a request with one of
the tenant's credentials from an address outside every listed network is refused (the api
answers 403 ``client_network_not_allowed``). An IPv4 client seen through an IPv6 socket
(``::ffff:203.0.113.5``) is matched as the IPv4 address it is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from gledger_sandbox.domain.errors import InvalidRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_NETWORKS = 64


def parse_networks(values: Sequence[str], pointer: str = "/networks") -> tuple[Network, ...]:
    """The networks of a list of CIDR strings (a bare address is a /32 or /128), deduplicated."""
    if len(values) > MAX_NETWORKS:
        raise InvalidRequest.at(
            pointer, "validation.invalid_value", f"At most {MAX_NETWORKS} networks."
        )
    networks: list[Network] = []
    for index, text in enumerate(values):
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise InvalidRequest.at(
                f"{pointer}/{index}",
                "validation.invalid_value",
                f"{text!r} is not an IP network: give CIDR such as 203.0.113.0/24 or "
                "2001:db8::/32, or one address.",
            ) from None
        if network not in networks:
            networks.append(network)
    return tuple(networks)


def admits(networks: Sequence[Network], address: str | None) -> bool:
    """Whether a client at ``address`` may call; an empty list admits every client."""
    if not networks:
        return True
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False  # no address to check (a Unix socket): refused once a list is set
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    return any(client.version == net.version and client in net for net in networks)
