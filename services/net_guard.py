"""Fetching URLs that people give (feeds) without reaching into our own network (SSRF).

The check is made on the address actually connected to, not on the URL: `GuardedBackend`
resolves each host itself, refuses if any address is not public, then connects to the checked
address, so neither DNS rebinding nor a redirect to an internal address gets through. TLS
still verifies the certificate against the host name (httpcore passes it to `start_tls`).

Refusals are `FetchRefused` (a `ValueError`: permanent, tell the person); network failures and
timeouts stay httpx's own `httpx.TransportError`s (transient).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

import anyio
import httpcore
import httpx

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
SCHEMES = frozenset({"http", "https"})
_EXAMPLE = "https://example.com/feed.xml"
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")
# httpx's defaults, repeated because the guarded pool replaces the one httpx builds.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class FetchRefused(ValueError):
    """A URL the bot will not fetch, or a response it will not read; the message says why."""


class BlockedAddress(FetchRefused):
    """The host is, or resolves to, an address that is not on the public internet."""

    def __init__(self, host: str, address: IPAddress) -> None:
        self.host = host
        self.address = address
        where = str(address) if host == str(address) else f"{host} ({address})"
        super().__init__(
            f"{where} is an address inside this network, so the bot will not fetch it; "
            "give a public URL instead"
        )


class UnsupportedURL(FetchRefused):
    """Not a URL the bot fetches: malformed, not http(s), no host, or with credentials."""


class ResponseTooLarge(FetchRefused):
    """The response body is longer than the caller's cap."""

    def __init__(self, host: str, max_bytes: int) -> None:
        self.host = host
        self.max_bytes = max_bytes
        super().__init__(
            f"{host} sent more than {max_bytes:,} bytes, the most the bot reads from one URL; "
            "give a smaller file"
        )


class Resolver(Protocol):
    """Host name to the addresses a connection may go to (the DNS boundary)."""

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]: ...


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses the system resolver gives for `host`, in its order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict[IPAddress, None] = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            found[ipaddress.ip_address(sockaddr[0])] = None
    return list(found)


def is_public(address: IPAddress) -> bool:
    """Whether `address` is on the public internet; an IPv4 address inside IPv6 is judged as
    itself (mapped ::ffff:a.b.c.d, 6to4 2002::/16, NAT64 64:ff9b::/96)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
        if address.is_site_local:
            return False
    elif address in _CGNAT:
        return False
    # `is_global` alone lets multicast through, and some reserved ranges on older Pythons.
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_host(host: str) -> str:
    return host.rstrip(".").lower()


@dataclass(frozen=True)
class Allowlist:
    """Hosts and networks exempt from the public-address rule (loopback in tests, a
    self-hosted feed). A name exempts only requests made to that name; a network exempts
    any address inside it, whatever the name."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Entries are host names (ASCII or punycode), addresses or CIDR networks."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
                continue
            except ValueError:
                pass
            name = _normal_host(entry.strip())
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(f"allow entry {entry!r} is neither a host name nor a network")
            names.add(name)
        return cls(frozenset(names), tuple(networks))

    def permits(self, host: str, address: IPAddress) -> bool:
        """Whether a connection to `host` may go to `address`."""
        return (
            _normal_host(host) in self.names
            or any(address in network for network in self.networks)
            or is_public(address)
        )


def check_url(url: httpx.URL) -> None:
    """Refuse a URL the bot does not fetch, before any connection: only http(s), with a host,
    without user name or password."""
    if url.scheme not in SCHEMES:
        if not url.scheme:
            raise UnsupportedURL(f"that is not a full URL; give one like {_EXAMPLE}")
        raise UnsupportedURL(
            f"{url.scheme}:// URLs cannot be fetched; give an http:// or https:// URL"
        )
    if not url.host:
        raise UnsupportedURL(f"the URL has no host name; give one like {_EXAMPLE}")
    if url.userinfo:
        raise UnsupportedURL(
            "the URL holds a user name or password; give a public URL without them"
        )


def parse_url(text: str) -> httpx.URL:
    """`text` as an httpx URL that passes `check_url`."""
    try:
        url = httpx.URL(text.strip())
    except httpx.InvalidURL as exc:
        raise UnsupportedURL(f"that is not a valid URL ({exc}); give one like {_EXAMPLE}") from exc
    check_url(url)
    return url


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves each host itself, refuses (`BlockedAddress`)
    if any of its addresses is not permitted, and connects to a checked address."""

    def __init__(
        self,
        *,
        allowlist: Allowlist,
        resolve: Resolver = system_resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allowlist = allowlist
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A stream to the first of `host`'s addresses that accepts, once all are checked."""
        try:
            with anyio.fail_after(timeout):
                addresses = await self.checked_addresses(host, port)
                failures: list[httpcore.ConnectError] = []
                for address in addresses:
                    try:
                        return await self._inner.connect_tcp(
                            str(address),
                            port,
                            local_address=local_address,
                            socket_options=socket_options,
                        )
                    except httpcore.ConnectError as exc:
                        failures.append(exc)
                raise failures[-1]  # checked_addresses never returns an empty list
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc

    async def checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        """`host`'s addresses, all permitted; a literal address is not resolved."""
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = list(await self._resolve(host, port))
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            if not addresses:
                raise httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            if not self._allowlist.permits(host, address):
                raise BlockedAddress(host, address)
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a Unix socket is local by definition."""
        raise UnsupportedURL("Unix sockets cannot be fetched")

    async def sleep(self, seconds: float) -> None:
        """Wait between connection retries, as the inner backend does."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the URL checked on every request (each redirect hop too) and
    connections made through a `GuardedBackend`; never through a proxy."""

    def __init__(self, *, backend: GuardedBackend, verify: ssl.SSLContext | bool = True) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False, limits=_LIMITS)
        # httpx has no public way to give its pool a network backend: replace the pool.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` if its URL passes `check_url`."""
        check_url(request.url)
        return await super().handle_async_request(request)


def guarded_client(
    *,
    allow: Sequence[str] = (),
    timeout_s: float = 10.0,
    max_redirects: int = 5,
    verify: ssl.SSLContext | bool = True,
    resolve: Resolver = system_resolve,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """An httpx client that reaches only public addresses (and those in `allow`: host names,
    addresses or CIDR networks), follows up to `max_redirects` redirects, and ignores proxy
    and .netrc settings from the environment. `network_backend` opens the checked
    connections (httpcore's own by default). The caller closes it."""
    backend = GuardedBackend(
        allowlist=Allowlist.parse(allow), resolve=resolve, inner=network_backend
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(backend=backend, verify=verify),
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=True,
        max_redirects=max_redirects,
        trust_env=False,
    )


@dataclass(frozen=True)
class Fetched:
    """A fetched body (decoded from any content encoding) and where it finally came from."""

    url: str
    status_code: int
    content_type: str
    body: bytes


async def fetch_capped(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline_s: float = 30.0,
) -> Fetched:
    """GET `url` with `client` (a `guarded_client`), reading at most `max_bytes` of body
    within `deadline_s` in all. Raises `FetchRefused` for a URL or body the bot will not
    take, `httpx.HTTPStatusError` for a non-2xx answer, other `httpx.HTTPError`s for
    network failures (a slow sender gets `httpx.ReadTimeout`)."""
    request = client.build_request("GET", parse_url(url))
    try:
        async with asyncio.timeout(deadline_s):
            response = await client.send(request, stream=True)
            try:
                response.raise_for_status()
                return await _read_capped(response, max_bytes)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise httpx.ReadTimeout(
            f"{request.url.host} did not send its answer within {deadline_s:g} s", request=request
        ) from exc


async def _read_capped(response: httpx.Response, max_bytes: int) -> Fetched:
    host = response.url.host
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(host, max_bytes)
    body = bytearray()
    # Counted after decoding, so a small compressed body cannot expand past the cap.
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise ResponseTooLarge(host, max_bytes)
    return Fetched(
        url=str(response.url),
        status_code=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=bytes(body),
    )
