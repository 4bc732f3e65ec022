"""Calls tandem makes to URLs that someone chose: a project's webhook, an OpenLineage endpoint,
an OpenID Connect provider and the endpoints its metadata names. They all go through one policy
here, so whoever may set such a URL cannot make tandem reach into its own network (SSRF: the
cloud metadata service at 169.254.169.254, an admin port on loopback, a database on 10.x).

The rule:

* http and https only; no user name or password in the URL; a host name of letters, digits,
  dots and dashes (after IDNA) or an IP literal.
* The host is resolved, and **every** address it resolves to must be globally routable: no
  loopback, private, link-local, shared (CGN), multicast, unspecified, reserved or documentation
  addresses, also when wrapped in IPv6 (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`,
  6to4 `2002::/16`). Numeric spellings (`2130706433`, `0x7f.1`, `127.1`) resolve to what they
  mean, so they meet the same rule.
* A workspace admin may allow destinations (`TANDEM_OUTBOUND_ALLOW_HOSTS`, comma-separated:
  `hooks.internal`, `hooks.internal:8443`, `127.0.0.1:5000`, `[::1]:8080`, `10.20.0.0/16`):
  an allowed name skips the address rule; an allowed address or network admits that address.
* The connection goes to the address that was checked (pinned), so a second DNS answer cannot
  swap it (rebinding); the Host header and TLS (SNI and the certificate check) keep the name.
* Redirects are not followed (a 3xx is the answer), connections are not reused, timeouts are
  short, and proxies from the environment are ignored.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from tandem.errors import DestinationRefused, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

ALLOW_SETTING = "TANDEM_OUTBOUND_ALLOW_HOSTS"
DEFAULT_TIMEOUT = 5.0
CONNECT_TIMEOUT = 3.0
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not globally routable, yet not flagged by every Python's `ipaddress` (3.11 calls them global).
_ALSO_REFUSED: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.ip_network("192.0.0.0/24"), "reserved"),
    (ipaddress.ip_network("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (ipaddress.ip_network("fec0::/10"), "site-local"),
)
_CHECKS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)


def refusal(address: IPAddress) -> str | None:
    """Why tandem may not call `address` ("loopback", "private", ...), or None when it is
    globally routable. IPv6 forms that carry an IPv4 address are judged by that address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            why = refusal(inner)
            return f"{why}: IPv4 {inner} inside IPv6" if why else None
    for attribute, why in _CHECKS:
        if getattr(address, attribute):
            return why
    for network, why in _ALSO_REFUSED:
        if address.version == network.version and address in network:
            return why
    return None if address.is_global else "not globally routable"


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(entry)
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(entry)
    return host, int(port) if port else None


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Destinations a workspace admin allows despite the address rule."""

    names: frozenset[tuple[str, int | None]] = frozenset()  # (lower-case name, port or None)
    addresses: frozenset[tuple[IPAddress, int | None]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """From `name`, `name:port`, `address`, `address:port`, `[v6]:port` or `cidr` entries.

        Raises:
            InvalidInput: an entry is none of these.
        """
        names: set[tuple[str, int | None]] = set()
        addresses: set[tuple[IPAddress, int | None]] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                if "/" in entry:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                    continue
                host, port = _split_host_port(entry)
                try:
                    addresses.add((ipaddress.ip_address(host), port))
                except ValueError:
                    if not _NAME.match(host):
                        raise
                    names.add((host.rstrip("."), port))
            except ValueError:
                raise InvalidInput(
                    f"{ALLOW_SETTING} entry {raw.strip()[:80]!r} is not a host, host:port, "
                    "address or network (e.g. hooks.internal:8443, 10.0.0.0/8)"
                ) from None
        return cls(frozenset(names), frozenset(addresses), tuple(networks))

    def allows_name(self, host: str, port: int) -> bool:
        return (host, port) in self.names or (host, None) in self.names

    def allows_address(self, address: IPAddress, port: int) -> bool:
        if (address, port) in self.addresses or (address, None) in self.addresses:
            return True
        return any(address.version == n.version and address in n for n in self.networks)


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked destination: where to connect (`address`) and the name to present."""

    scheme: str
    host: str  # ASCII (IDNA) host name or address, lower case, no brackets
    port: int
    address: str  # the pinned IP address


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class OutboundPolicy:
    """The one way tandem calls out: `check` a URL, or use `client()` for checked calls."""

    def __init__(
        self, allow: Allowlist | Iterable[str] = (), *, resolver: Resolver | None = None
    ) -> None:
        self.allow = allow if isinstance(allow, Allowlist) else Allowlist.parse(allow)
        self._resolve = resolver or _system_resolver

    def check(
        self, url: str | httpx.URL, *, what: str = "URL", resolve: bool = True
    ) -> Destination:
        """Check `url` against the rule and pin the address to connect to.

        `resolve=False` (when a URL is configured, not yet called) accepts a name that does not
        resolve now: the call re-checks it. Raises DestinationRefused; never a network error.
        """
        parsed = _parse(url, what)
        host, port = parsed.raw_host.decode("ascii").lower(), parsed.port
        port = port or (443 if parsed.scheme == "https" else 80)
        literal = _address(host)
        if literal is None and not _NAME.match(host):
            raise DestinationRefused(f"{what} host {host[:80]!r} is not a valid host name")
        name = host.rstrip(".")
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self._resolve(name, port)
            except (OSError, UnicodeError):
                addresses = []
            if not addresses:
                if resolve:
                    raise DestinationRefused(f"{what} host {name} does not resolve")
                return Destination(parsed.scheme, name, port, "")
        if literal is None and self.allow.allows_name(name, port):
            return Destination(parsed.scheme, name, port, addresses[0])
        for text in addresses:
            address = ipaddress.ip_address(text.split("%")[0])
            why = refusal(address)
            if why is not None and not self.allow.allows_address(address, port):
                resolves = "" if literal is not None else f" (it resolves to {address})"
                raise DestinationRefused(
                    f"{what} host {name} is refused{resolves}: not a public address ({why}). "
                    "tandem calls only globally routable addresses unless a workspace admin "
                    f"allows the host in {ALLOW_SETTING}",
                    host=name,
                    reason=why,
                )
        return Destination(parsed.scheme, name, port, addresses[0])

    def client(
        self, timeout: float = DEFAULT_TIMEOUT, *, what: str = "URL", **kwargs: Any
    ) -> httpx.Client:
        """An httpx client whose every request is checked and pinned; no redirects followed.
        `what` names the destination in refusals ("webhook", "identity provider")."""
        return httpx.Client(
            transport=_PinnedTransport(self, what),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
            **kwargs,
        )

    def post(
        self, url: str, *, what: str = "URL", timeout: float = DEFAULT_TIMEOUT, **kwargs: Any
    ) -> httpx.Response:
        """One checked POST (`kwargs` as for httpx), on a client of its own."""
        with self.client(timeout, what=what) as http:
            return http.post(url, **kwargs)


def _parse(url: str | httpx.URL, what: str) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, UnicodeError):
        raise DestinationRefused(f"{what} {str(url)[:80]!r} is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise DestinationRefused(f"{what} must be an http(s) URL with a host")
    if parsed.userinfo:
        raise DestinationRefused(f"{what} must not carry a user name or password")
    return parsed


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class _PinnedTransport(httpx.BaseTransport):
    """Checks each request's URL and sends it to the checked address, keeping the name for
    the Host header (set when the request was built) and for TLS (SNI and the certificate)."""

    def __init__(self, policy: OutboundPolicy, what: str) -> None:
        self.policy = policy
        self.what = what
        # No keep-alive: a pooled connection is keyed by address, so reusing one could carry
        # a request for another name over a TLS session checked for the first.
        self.inner = httpx.HTTPTransport(
            retries=0, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        destination = self.policy.check(request.url, what=self.what)
        extensions = dict(request.extensions)
        if destination.scheme == "https":
            extensions["sni_hostname"] = destination.host
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=destination.address),
            headers=request.headers,  # Host: the name, as the caller built it
            stream=request.stream,
            extensions=extensions,
        )
        return self.inner.handle_request(pinned)

    def close(self) -> None:
        self.inner.close()
