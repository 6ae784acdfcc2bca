"""Which hosts a result download may reach: public addresses, the gateway itself and the operator's own list.

A result link comes from the gateway or from whatever its upstream returned, so it could point the bot at its own
machine or network (a metrics port, a cloud metadata service). Names are checked on the addresses they resolve to,
in the resolver the connection itself uses, so a name cannot resolve to one address for the check and another for
the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from bot.errors import GatewayResultRefusedError
from bot.locales import _

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
PRIVATE_ADDRESS_MESSAGE: Final = _(
    "The video service pointed the bot at a private network address for the finished video, which the bot does not "
    "fetch from. The operator can allow that host with RESULT_URL_ALLOW."
)


class AddressRefusedError(OSError):
    """A host resolved only to addresses a result download may not reach."""


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local, reserved or multicast)."""
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class ResultHosts:
    """The hosts a result download may reach on any address; every other host only on public addresses.

    An entry is (host, port); a port of None stands for any port.
    """

    trusted: frozenset[tuple[str, int | None]]

    @classmethod
    def of(cls, gateway_base_url: str, allow: Iterable[str] = ()) -> ResultHosts:
        """The gateway's own host and port (often local or private when self-hosted) and the RESULT_URL_ALLOW hosts."""
        gateway = urlsplit(gateway_base_url)
        trusted: set[tuple[str, int | None]] = {
            (gateway.hostname or "", gateway.port or _DEFAULT_PORTS.get(gateway.scheme))
        }
        for entry in allow:
            parts = urlsplit(f"//{entry}")
            trusted.add((parts.hostname or "", parts.port))
        return cls(frozenset(trusted))

    def trusts(self, host: str, port: int | None) -> bool:
        """Whether ``host`` on ``port`` may be reached whatever its address."""
        name = host.lower().strip("[]")
        return (name, port) in self.trusted or (name, None) in self.trusted

    def check(self, url: str) -> None:
        """Refuse a link that is not http(s), or that names a loopback, private or link-local address outright.

        Names are left to PublicResolver, which sees the addresses the connection will use.
        """
        parts = urlsplit(url)
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            port = None
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port is None:
            raise GatewayResultRefusedError(f"the result link is not a plain http(s) URL: {_shown(url)}")
        if self.trusts(parts.hostname, port):
            return
        try:
            public = is_public(parts.hostname)
        except ValueError:
            return  # a name, not an address
        if not public:
            raise GatewayResultRefusedError(
                f"the result link names {parts.hostname}, a loopback, private or link-local address "
                "(RESULT_URL_ALLOW can allow it)",
                user_message=PRIVATE_ADDRESS_MESSAGE,
            )


class PublicResolver(AbstractResolver):
    """Resolves names as aiohttp does, keeping only public addresses for hosts that are not trusted."""

    def __init__(self, hosts: ResultHosts, inner: AbstractResolver | None = None) -> None:
        self._hosts = hosts
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host`` the bot may connect to; AddressRefusedError when none is left."""
        found = await self._inner.resolve(host, port, family)
        if self._hosts.trusts(host, port):
            return found
        public = [address for address in found if is_public(address["host"])]
        if not public:
            raise AddressRefusedError(f"{host} resolves only to loopback, private or link-local addresses")
        return public

    async def close(self) -> None:
        """Release the resolver underneath."""
        await self._inner.close()


def _shown(url: str) -> str:
    return url if len(url) <= 200 else url[:200] + "…"
