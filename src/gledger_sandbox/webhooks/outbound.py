"""Where webhooks may go: a public sandbox never POSTs into its own host or network (SSRF).

With the guard on (``serve --public``), a webhook target is refused when its host is, or
resolves to, an address that is not public: loopback, private (RFC 1918, unique local),
link-local (the cloud metadata service 169.254.169.254 among them), shared (100.64/10),
multicast, reserved, unspecified, documentation and benchmark ranges, and IPv6 forms that
embed such an IPv4 address (IPv4-mapped ``::ffff:127.0.0.1``, NAT64 ``64:ff9b::``, 6to4,
Teredo). IPv4 written the way ``inet_aton`` reads it (``2130706433``, ``0x7f.1``,
``0177.0.0.1``) is read so too, as every resolver would. ``localhost`` and ``*.localhost``
are loopback by name (RFC 6761), never looked up.

The check runs twice: when an endpoint is created or its URL changed (a literal address, or a
name that resolves inside, is refused with 422 ``webhook.url_not_allowed``), and at every
attempt, after resolving the name again: a name that later points inside (DNS rebinding) fails
that attempt with the reason recorded. The attempt then connects to the address that was
checked, never resolving twice, so the name cannot change between check and connect (the host
name stays the Host header, the TLS server name and what the certificate must name).
An allow-list names exceptions (networks, or host names allowed whatever they resolve to),
and ports may be restricted. Redirects are never followed (the delivery worker's client).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]
"""Every address a host name resolves to (for a port)."""

NAT64 = ipaddress.ip_network("64:ff9b::/96")
PortRanges = tuple[tuple[int, int], ...]
"""Inclusive (first, last) port ranges."""
PUBLIC_PORTS: PortRanges = ((80, 80), (443, 443), (1024, 65535))
"""``serve --public``'s default: the web ports and the unprivileged ones, not SSH, SMTP, ..."""


class TargetRefused(Exception):
    """A webhook target the policy does not allow; the message says why, for the partner."""


class TargetUnresolved(TargetRefused):
    """A target whose name resolves to nothing (yet): refused for an attempt, not at creation."""


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which webhook targets may be called."""

    guard: bool = False
    """Refuse targets that are not public addresses (off for local use: loopback receivers)."""
    allow_networks: tuple[IPNetwork, ...] = ()
    """Networks allowed even though they are not public (a deployment's own receivers)."""
    allow_hosts: frozenset[str] = frozenset()
    """Host names allowed whatever they resolve to (lower case, no trailing dot)."""
    ports: PortRanges | None = None
    """Ports targets may use; None: any."""
    hosts: tuple[tuple[str, str], ...] = ()
    """Fixed answers for names, (name, address) pairs (as ``curl --resolve``), consulted before
    the system resolver."""


def parse_allow(text: str) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    """``10.0.0.0/8,hooks.internal``: networks (CIDRs or addresses) and host names."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            hosts.add(part.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


def parse_ports(text: str) -> PortRanges:
    """``443,8000-8999``: ports and inclusive ranges, each within 1-65535."""
    ports: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            first = last = 0
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"not a port or port range within 1-65535: {part!r}")
        ports.append((first, last))
    if not ports:
        raise ValueError("give at least one port")
    return tuple(ports)


def literal_address(host: str) -> IPAddress | None:
    """The address a host spells, in any form a resolver reads without DNS, else None."""
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])  # an IPv6 zone id names no host
    except ValueError:
        pass
    if bare and all(c in "0123456789abcdefxABCDEFX." for c in bare):
        try:
            # inet_aton reads decimal, octal and hex parts ("0x7f.1", "2130706433") as
            # glibc's resolver does; it is a parser, it never touches the network.
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def why_internal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public one, or None when it is."""
    embedded: IPAddress | None = None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            embedded = address.ipv4_mapped
        elif address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        elif address.sixtofour is not None:
            embedded = address.sixtofour
        elif address.teredo is not None:
            embedded = address.teredo[1]
    if embedded is not None:
        inner = why_internal(embedded)
        if inner:
            return f"{inner} (inside {address})"
    for reason in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(address, f"is_{reason}"):
            return f"{address} is a {reason.replace('_', '-')} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """The system resolver's addresses for ``host``, off the event loop (a thread of asyncio)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


class OutboundGuard:
    """Checks webhook targets against an :class:`OutboundPolicy`, and pins what it checked."""

    def __init__(self, policy: OutboundPolicy, resolve: Resolve = system_resolve) -> None:
        self.policy = policy
        self._resolve = resolve
        self.hosts: dict[str, list[IPAddress]] = {}
        """The fixed answers, by name; tests may point a name elsewhere at any time."""
        for name, address in policy.hosts:
            self.hosts.setdefault(name, []).append(ipaddress.ip_address(address))

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """What ``host`` stands for: its literal address, the fixed answers, or DNS."""
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")]
        fixed = self.hosts.get(name)
        if fixed is not None:
            return list(fixed)
        return await self._resolve(name, port)

    async def check(self, url: httpx.URL) -> IPAddress | None:
        """The address to connect to for ``url``; raises :class:`TargetRefused` when not allowed.

        None when the guard is off: connect as usual.
        """
        if not self.policy.guard:
            return None
        port = url.port or (443 if url.scheme == "https" else 80)
        ports = self.policy.ports
        if ports is not None and not any(first <= port <= last for first, last in ports):
            raise TargetRefused(f"port {port} is not open to webhooks on this server")
        host = url.host
        try:
            found = await self.addresses(host, port)
        except (OSError, UnicodeError, ValueError) as failure:
            raise TargetUnresolved(f"{host!r} does not resolve: {failure}") from None
        if not found:
            raise TargetUnresolved(f"{host!r} resolves to no address")
        if host.lower().rstrip(".") in self.policy.allow_hosts:
            return found[0]
        for address in found:
            reason = why_internal(address)
            if reason and not any(address in net for net in self.policy.allow_networks):
                shown = "" if literal_address(host) else f"{host!r} resolves to "
                raise TargetRefused(f"{shown}{reason}; webhooks go to public addresses only")
        return found[0]

    async def check_at_creation(self, url: httpx.URL) -> None:
        """As ``check``, except that a name that does not resolve yet is accepted (its
        attempts are checked when they are made)."""
        with contextlib.suppress(TargetUnresolved):
            await self.check(url)
