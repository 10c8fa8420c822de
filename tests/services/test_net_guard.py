"""The SSRF guard: which addresses are public, URL checks, and the guarded client against a
loopback server (plain and TLS): refusals by default, the allowlist, names resolving inward,
redirect hops, the size cap and the deadline. Nothing here leaves the machine: a test that
could reach a public address connects through `OfflineBackend`."""

from __future__ import annotations

import asyncio
import datetime
import functools
import gzip
import ipaddress
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path

import httpcore
import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from services.net_guard import (
    Allowlist,
    BlockedAddress,
    FetchRefused,
    IPAddress,
    ResponseTooLarge,
    UnsupportedURL,
    fetch_capped,
    guarded_client,
    is_public,
    parse_url,
    system_resolve,
)
from tests.fakes.loopback import start_app

FEED = b"<rss><channel><title>ok</title></channel></rss>"
LOOPBACK = ipaddress.ip_address("127.0.0.1")
PUBLIC = ipaddress.ip_address("93.184.215.14")

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2001:db8::1",
]
PUBLIC_ADDRESSES = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::",
    "64:ff9b::808:808",
]
BLOCKED_NETWORKS = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "::ffff:0.0.0.0/104",  # mapped 0.0.0.0/8
    "::ffff:127.0.0.0/104",
    "::ffff:10.0.0.0/104",
]


class OfflineBackend(httpcore.AsyncNetworkBackend):
    """Records where the guard would connect and refuses, so no test reaches the network."""

    def __init__(self) -> None:
        self.connects: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append(host)
        raise httpcore.ConnectError(f"offline: not connecting to {host}")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeResolver:
    """An in-memory DNS: names it does not know resolve to `others`, or fail like the system
    resolver does."""

    def __init__(
        self, entries: Mapping[str, Sequence[IPAddress]], others: Sequence[IPAddress] = ()
    ) -> None:
        self.entries = entries
        self.others = others
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.asked.append(host)
        if host in self.entries:
            return self.entries[host]
        if self.others:
            return self.others
        raise OSError(f"{host}: Name or service not known")


def hosts_file(entries: Mapping[str, Sequence[str]]) -> FakeResolver:
    """A resolver that knows only `entries` (name → addresses)."""
    return FakeResolver(
        {name: [ipaddress.ip_address(a) for a in a_list] for name, a_list in entries.items()}
    )


# The loopback server ------------------------------------------------------------------


async def feed(request: web.Request) -> web.Response:
    return web.Response(body=FEED, content_type="application/rss+xml")


async def redirect_to(request: web.Request) -> web.Response:
    port = request.url.port
    target = {
        "ip": f"http://127.0.0.1:{port}/feed",
        "name": "/feed",
        "loop": "/redirect/loop",
        "ftp": f"ftp://localhost:{port}/feed",
        "creds": f"http://user:secret@localhost:{port}/feed",
    }[request.match_info["to"]]
    raise web.HTTPFound(target)


async def big(request: web.Request) -> web.StreamResponse:
    """1 MiB in chunks, with no Content-Length."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(64):
        await response.write(b"x" * 16_384)
    await response.write_eof()
    return response


async def big_declared(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * 1_048_576)


async def bomb(request: web.Request) -> web.Response:
    """8 MiB of zeros, gzipped to a few KiB."""
    body = gzip.compress(bytes(8 * 1_048_576))
    return web.Response(body=body, headers={"Content-Encoding": "gzip"})


async def exact(request: web.Request) -> web.Response:
    return web.Response(body=b"y" * int(request.match_info["size"]))


async def slow(request: web.Request) -> web.StreamResponse:
    """One byte every 50 ms, for at most 5 s."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(100):
        await response.write(b".")
        await asyncio.sleep(0.05)
    await response.write_eof()
    return response


async def missing(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def feed_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/feed", feed)
    app.router.add_get("/redirect/{to}", redirect_to)
    app.router.add_get("/big", big)
    app.router.add_get("/big-declared", big_declared)
    app.router.add_get("/bomb", bomb)
    app.router.add_get("/exact/{size}", exact)
    app.router.add_get("/slow", slow)
    app.router.add_get("/missing", missing)
    return app


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """The port of the loopback feed server on 127.0.0.1."""
    runner, url = await start_app(feed_app())
    yield httpx.URL(url).port or 80
    await runner.cleanup()


# Which addresses are public -------------------------------------------------------------


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(v4: ipaddress.IPv4Address) -> None:
    n = int(v4)
    forms = [
        ipaddress.IPv6Address(0xFFFF_0000_0000 | n),  # ::ffff:a.b.c.d
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80)),  # 6to4
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | n),  # NAT64
    ]
    assert [is_public(form) for form in forms] == [is_public(v4)] * 3


@given(st.sampled_from(BLOCKED_NETWORKS).flatmap(lambda net: st.ip_addresses(network=net)))
def test_every_address_of_an_internal_network_is_not_public(address: IPAddress) -> None:
    assert not is_public(address)


# The allowlist and URL checks -----------------------------------------------------------


def test_allowlist_takes_names_addresses_and_networks() -> None:
    allow = Allowlist.parse(["LocalHost.", "127.0.0.1", "10.1.0.0/16", "fd00::/8"])
    assert allow.names == frozenset({"localhost"})
    assert allow.permits("localhost", ipaddress.ip_address("::1"))
    assert allow.permits("any.example", LOOPBACK)
    assert allow.permits("any.example", ipaddress.ip_address("10.1.2.3"))
    assert allow.permits("any.example", ipaddress.ip_address("fd00::5"))
    assert allow.permits("any.example", PUBLIC)
    assert not allow.permits("any.example", ipaddress.ip_address("10.2.0.1"))
    assert not allow.permits("127.0.0.2", ipaddress.ip_address("127.0.0.2"))


@pytest.mark.parametrize("entry", ["", "http://localhost", "local host", "-bad-.example"])
def test_allowlist_refuses_what_is_neither_a_name_nor_a_network(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a host name nor a network"):
        Allowlist.parse([entry])


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/feed.xml", "ftp:// URLs cannot be fetched"),
        ("file:///etc/passwd", "file:// URLs cannot be fetched"),
        ("gopher://example.com:70/", "gopher:// URLs cannot be fetched"),
        ("example.com/feed.xml", "not a full URL"),
        ("http:///feed.xml", "no host name"),
        ("http://[::1/feed", "not a valid URL"),
        ("http://user:secret@example.com/feed", "user name or password"),
        ("https://token@example.com/feed", "user name or password"),
    ],
)
def test_urls_the_bot_does_not_fetch(url: str, says: str) -> None:
    with pytest.raises(UnsupportedURL, match=says) as refused:
        parse_url(url)
    assert "secret" not in str(refused.value)
    assert "token" not in str(refused.value)


# The guarded client, without the network ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:80/",
        "https://[fe80::1]/",
        "http://100.64.0.1/",
    ],
)
async def test_literal_internal_addresses_are_refused_before_any_connection(url: str) -> None:
    resolver, offline = hosts_file({}), OfflineBackend()
    async with guarded_client(resolve=resolver, network_backend=offline) as client:
        with pytest.raises(BlockedAddress, match="inside this network"):
            await fetch_capped(client, url)
    assert (resolver.asked, offline.connects) == ([], [])


@pytest.mark.parametrize(
    "url", ["http://localhost/", "http://2130706433/", "http://0x7f000001/", "http://127.1/"]
)
async def test_names_the_system_resolves_to_loopback_are_refused(url: str) -> None:
    offline = OfflineBackend()
    async with guarded_client(network_backend=offline) as client:
        with pytest.raises(BlockedAddress) as refused:
            await fetch_capped(client, url)
    assert refused.value.address == LOOPBACK
    assert offline.connects == []


async def test_a_name_with_any_internal_address_is_refused() -> None:
    resolver = hosts_file({"mixed.example": [str(PUBLIC), "10.0.0.7"]})
    offline = OfflineBackend()
    async with guarded_client(resolve=resolver, network_backend=offline) as client:
        with pytest.raises(BlockedAddress, match=r"mixed\.example \(10\.0\.0\.7\)"):
            await fetch_capped(client, "http://mixed.example/feed")
    assert offline.connects == []


async def test_public_addresses_are_connected_to_by_address() -> None:
    resolver = hosts_file({"feeds.example": [str(PUBLIC)]})
    offline = OfflineBackend()
    async with guarded_client(resolve=resolver, network_backend=offline) as client:
        with pytest.raises(httpx.ConnectError, match="offline"):
            await fetch_capped(client, "https://feeds.example/feed")
    assert offline.connects == [str(PUBLIC)]


async def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    async with guarded_client(resolve=hosts_file({})) as client:
        with pytest.raises(httpx.ConnectError, match=r"cannot resolve nowhere\.example"):
            await fetch_capped(client, "http://nowhere.example/")


@functools.cache
def shared_trust() -> ssl.SSLContext:
    """One default TLS context for the many clients of a property test (loading CAs is slow)."""
    return ssl.create_default_context()


host_part = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.text(max_size=30),
)
url_text = st.one_of(
    st.text(),
    st.tuples(
        st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", ""]), st.text()
    ).map("".join),
    st.tuples(st.sampled_from(["http://", "https://"]), host_part, st.text(max_size=20)).map(
        lambda parts: f"{parts[0]}{parts[1]}/{parts[2]}"
    ),
)


@settings(deadline=None, max_examples=200)
@given(url_text, st.lists(st.ip_addresses(), min_size=1, max_size=3))
def test_any_text_is_fetched_from_public_addresses_or_refused_cleanly(
    url: str, addresses: list[IPAddress]
) -> None:
    resolver, offline = FakeResolver({}, others=addresses), OfflineBackend()

    async def attempt() -> None:
        async with guarded_client(
            resolve=resolver, network_backend=offline, verify=shared_trust()
        ) as client:
            await fetch_capped(client, url)

    try:
        asyncio.run(attempt())
    except BlockedAddress as refused:
        assert not is_public(refused.address)
    except FetchRefused:
        pass
    except httpx.ConnectError as exc:
        assert "offline" in str(exc)
    assert all(is_public(ipaddress.ip_address(host)) for host in offline.connects)


# The guarded client against the loopback server -----------------------------------------


async def test_loopback_is_refused_by_default(port: int) -> None:
    async with guarded_client() as client:
        with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1 is an address inside this network"):
            await fetch_capped(client, f"http://127.0.0.1:{port}/feed")


@pytest.mark.parametrize("allow", [["127.0.0.1"], ["127.0.0.0/8"]])
async def test_an_allowed_address_is_fetched(port: int, allow: list[str]) -> None:
    async with guarded_client(allow=allow) as client:
        fetched = await fetch_capped(client, f"http://127.0.0.1:{port}/feed")
    assert fetched.body == FEED
    assert fetched.status_code == 200
    assert fetched.content_type.startswith("application/rss+xml")


async def test_a_public_looking_name_resolving_to_loopback_is_refused(port: int) -> None:
    resolver = hosts_file({"feeds.example.test": ["127.0.0.1"]})
    async with guarded_client(resolve=resolver) as client:
        with pytest.raises(BlockedAddress, match=r"feeds\.example\.test \(127\.0\.0\.1\)"):
            await fetch_capped(client, f"http://feeds.example.test:{port}/feed")


async def test_the_connection_goes_to_the_checked_address(port: int) -> None:
    """Only the fake resolver knows the name: fetching works only if nothing resolves again."""
    resolver = hosts_file({"feeds.example.test": ["127.0.0.1"]})
    async with guarded_client(allow=["127.0.0.1"], resolve=resolver) as client:
        fetched = await fetch_capped(client, f"http://feeds.example.test:{port}/feed")
    assert fetched.body == FEED
    assert resolver.asked == ["feeds.example.test"]


async def test_a_redirect_to_an_internal_address_is_refused(port: int) -> None:
    """`localhost` is allowed by name; the redirect names 127.0.0.1, which is not."""
    resolver = hosts_file({"localhost": ["127.0.0.1"]})
    async with guarded_client(allow=["localhost"], resolve=resolver) as client:
        allowed = await client.get(f"http://localhost:{port}/redirect/name")
        with pytest.raises(BlockedAddress) as refused:
            await client.get(f"http://localhost:{port}/redirect/ip")
    assert (allowed.status_code, allowed.content, allowed.url.path) == (200, FEED, "/feed")
    assert refused.value.host == "127.0.0.1"


@pytest.mark.parametrize(("to", "says"), [("ftp", "ftp://"), ("creds", "user name or password")])
async def test_a_redirect_to_a_url_the_bot_does_not_fetch_is_refused(
    port: int, to: str, says: str
) -> None:
    async with guarded_client(allow=["127.0.0.1"]) as client:
        with pytest.raises(UnsupportedURL, match=says):
            await fetch_capped(client, f"http://127.0.0.1:{port}/redirect/{to}")


async def test_redirects_are_followed_only_so_far(port: int) -> None:
    async with guarded_client(allow=["127.0.0.1"], max_redirects=3) as client:
        with pytest.raises(httpx.TooManyRedirects):
            await fetch_capped(client, f"http://127.0.0.1:{port}/redirect/loop")


async def test_an_error_status_raises(port: int) -> None:
    async with guarded_client(allow=["127.0.0.1"]) as client:
        with pytest.raises(httpx.HTTPStatusError) as failed:
            await fetch_capped(client, f"http://127.0.0.1:{port}/missing")
    assert failed.value.response.status_code == 404


@pytest.mark.parametrize("path", ["/big", "/big-declared", "/bomb"])
async def test_a_body_over_the_cap_is_refused(port: int, path: str) -> None:
    async with guarded_client(allow=["127.0.0.1"]) as client:
        with pytest.raises(ResponseTooLarge, match="more than 65,536 bytes"):
            await fetch_capped(client, f"http://127.0.0.1:{port}{path}", max_bytes=65_536)


async def test_a_body_at_the_cap_is_read(port: int) -> None:
    async with guarded_client(allow=["127.0.0.1"]) as client:
        fetched = await fetch_capped(client, f"http://127.0.0.1:{port}/exact/4096", max_bytes=4096)
    assert fetched.body == b"y" * 4096


async def test_a_slow_sender_is_cut_off_at_the_deadline(port: int) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with guarded_client(allow=["127.0.0.1"]) as client:
        with pytest.raises(httpx.ReadTimeout, match=r"within 0\.3 s"):
            await fetch_capped(client, f"http://127.0.0.1:{port}/slow", deadline_s=0.3)
    assert loop.time() - started < 2


async def test_the_system_resolver_gives_addresses_without_repeats() -> None:
    assert await system_resolve("localhost", 80) == [LOOPBACK]


# TLS: the certificate is checked against the name while the connection goes to the address


def self_signed(name: str, folder: Path) -> tuple[Path, Path]:
    """A certificate for `name` that is its own authority, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_port(tmp_path: Path) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    """A loopback HTTPS feed server for `feeds.example.test`, and a context that trusts it."""
    cert, key = self_signed("feeds.example.test", tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    runner = web.AppRunner(feed_app(), shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context).start()
    yield runner.addresses[0][1], ssl.create_default_context(cafile=cert)
    await runner.cleanup()


async def test_tls_verifies_the_host_name_not_the_address(
    tls_port: tuple[int, ssl.SSLContext],
) -> None:
    port, trust = tls_port
    resolver = hosts_file(
        {"feeds.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
    )
    async with guarded_client(allow=["127.0.0.1"], resolve=resolver, verify=trust) as client:
        fetched = await fetch_capped(client, f"https://feeds.example.test:{port}/feed")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await fetch_capped(client, f"https://other.example.test:{port}/feed")
    assert fetched.body == FEED
