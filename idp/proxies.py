"""Which peers are trusted proxies: addresses or networks, as nginx's ``set_real_ip_from``
takes them (a compose or Kubernetes network is known by its range, not its addresses)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``10.0.0.5``, ``172.16.0.0/12``, ``::1``...; ValueError naming a bad entry."""
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"'{entry}' is not an IP address or network") from None
    return tuple(found)


class TrustedPeers:
    """``address in peers``: whether a peer (``REMOTE_ADDR``) is one of the proxies."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._networks = networks(entries)

    def __contains__(self, address: object) -> bool:
        try:
            peer = ipaddress.ip_address(str(address))
        except ValueError:  # a Unix socket's peer, or none
            return False
        return any(peer in network for network in self._networks)
