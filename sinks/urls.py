"""Where the hub may send a request it was told to send (webhooks, notification
channels): the one check against server-side request forgery.

A URL is refused, outside dev, when it is not ``https``, carries a user name or
password, names a cluster-internal host (``*.svc``, ``*.cluster.local``,
``*.internal``, ``localhost``...) or resolves to an address that is loopback,
link-local (cloud metadata at 169.254.169.254), private, CGNAT (100.64.0.0/10,
Alibaba Cloud's metadata 100.100.100.200), multicast, reserved or unspecified.
:meth:`UrlPolicy.check` checks the text when a subscription is made;
:meth:`UrlPolicy.resolve` resolves the host again at send time and returns the
addresses a connection may use, so a name that re-resolves to an internal
address (DNS rebinding) is refused then too — the sender connects to the
address it checked (:class:`PinnedTransport` in ``sinks.webhooks``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from urllib.parse import urlsplit

INTERNAL_SUFFIXES = (
    ".svc",
    ".cluster.local",
    ".internal",
    ".local",
    ".localhost",
    ".localdomain",
    ".home.arpa",
)
INTERNAL_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")

Resolver = Callable[[str, int], list[str]]


class UrlRefused(ValueError):
    """Why a URL may not be sent to."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a public one, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name, bad in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("CGNAT", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if bad:
            return f"{address} is a {name} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


@dataclass(frozen=True)
class UrlPolicy:
    """``dev`` allows plain http and internal addresses (local receivers in
    tests and demos); ``allowed_hosts`` exempts named hosts from the address
    check (an operator's own receiver on a private network)."""

    dev: bool = True
    allowed_hosts: Collection[str] = field(default_factory=frozenset)
    resolver: Resolver = system_resolver

    def check(self, url: str) -> tuple[str, int]:
        """``(host, port)`` of an acceptable URL, or :class:`UrlRefused` naming why."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UrlRefused("the URL must be http(s)://host/...")
        if parts.username is not None or parts.password is not None:
            raise UrlRefused("the URL may not carry a user name or password")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UrlRefused(f"invalid port: {exc}") from exc
        host = parts.hostname.lower().rstrip(".")
        if self.dev or host in self.allowed_hosts:
            return host, port
        if parts.scheme != "https":
            raise UrlRefused("only https URLs outside dev")
        internal = host in INTERNAL_NAMES or host.endswith(INTERNAL_SUFFIXES) or "." not in host
        if internal and not _is_ip(host):
            raise UrlRefused(f"{host} is a cluster-internal or local name")
        if _is_ip(host):
            problem = address_problem(host)
            if problem:
                raise UrlRefused(problem)
        return host, port

    def resolve(self, url: str) -> list[str] | None:
        """The addresses of the URL's host that may be connected to, resolved now;
        :class:`UrlRefused` if there are none or any is internal. None in dev
        (and for an allowed host): connect by name, no address is checked."""
        host, port = self.check(url)
        if self.dev or host in self.allowed_hosts:
            return None
        if _is_ip(host):
            return [host]
        try:
            addresses = self.resolver(host, port)
        except OSError as exc:
            raise UrlRefused(f"{host} does not resolve ({exc})") from exc
        if not addresses:
            raise UrlRefused(f"{host} does not resolve")
        for address in addresses:
            problem = address_problem(address)
            if problem:
                raise UrlRefused(f"{host} resolves to {problem}")
        return addresses


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
