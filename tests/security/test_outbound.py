"""Outbound calls (SSRF): webhooks, OpenLineage and OIDC reach only globally routable addresses
unless a workspace admin allows a host; the address is pinned; redirects are not followed.

Everything runs against real HTTP servers on loopback: a webhook sink that records what it gets,
tandem's own server, the `tandem` CLI in process."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tandem.core.auth import Role
from tandem.core.config import Settings
from tandem.core.outbound import Allowlist, OutboundPolicy, refusal
from tandem.errors import DestinationRefused, InvalidInput
from tandem.governance.notifications.models import WebhookSet
from tandem.governance.registers.models import ActionItemCreate
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.identity.oidc import OidcClient, OidcSettings
from tandem.projects.models import ProjectCreate
from tandem.server.app import create_app
from tandem.server.container import Services


class Sink:
    """An HTTP server on loopback that records every request; `redirect_to` makes it answer
    302 with that Location; GET paths in `documents` answer that JSON."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.documents: dict[str, Any] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                sink.received.append(
                    {"method": self.command, "path": self.path, "host": self.headers["host"],
                     "body": json.loads(body) if body else None}
                )  # fmt: skip
                if redirect_to is not None:
                    self.send_response(302)
                    self.send_header("location", redirect_to)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                document = json.dumps(sink.documents.get(self.path, {})).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.close()


@dataclass
class World:
    settings: Settings
    opened: list[Services]

    def services(self, *allow: str) -> Services:
        """Services on the test's database whose outbound allowlist is `allow`."""
        built = Services.build(replace(self.settings, outbound_allow_hosts=allow))
        self.opened.append(built)
        return built


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """Project churn with padmin (project admin, token in `world.token`) and ds."""
    found = World(settings, [])
    services = found.services()
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    for name, role in (("padmin", Role.ADMIN), ("ds", Role.DATA_SCIENTIST)):
        services.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        services.identity.set_member(owner, "churn", MemberSet(user=name, role=role))
    yield found
    for built in found.opened:
        built.close()


def _padmin(services: Services) -> Any:
    secret = services.identity.create_token(
        services.owner, TokenCreate(name="t", user="padmin")
    ).secret
    return secret, services.identity.principal_for_token(secret, "test")


def _notify(services: Services) -> None:
    """padmin gives ds an action item: ds is notified, and the project's webhook is called."""
    _, padmin = _padmin(services)
    services.registers.add_action(padmin, "churn", ActionItemCreate(title="t", owner="ds"))


def _failed_deliveries(services: Services) -> list[dict[str, Any]]:
    events = services.audit.list(services.owner, action="webhook.deliver").items
    return [e.details | {"outcome": e.outcome} for e in events]


# -- the address rule -------------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fec0::1": "site-local",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "private",
    "255.255.255.255": "private",
    "100.64.0.1": "shared (carrier-grade NAT)",
    "192.0.0.8": "reserved",
    "192.0.2.1": "private",  # documentation
    "198.18.0.1": "private",  # benchmarking
    "2001:db8::1": "private",
    "::ffff:127.0.0.1": "loopback: IPv4 127.0.0.1 inside IPv6",
    "::ffff:169.254.169.254": "link-local: IPv4 169.254.169.254 inside IPv6",
    "64:ff9b::a00:1": "private: IPv4 10.0.0.1 inside IPv6",
    "2002:7f00:1::": "loopback: IPv4 127.0.0.1 inside IPv6",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_non_public_addresses_are_classified(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == REFUSED[address]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/x",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/x",
        "http://0x7f.1/x",
        "http://017700000001/x",  # octal
        "http://127.1/x",
        "http://localhost/x",
        "http://LOCALHOST./x",
        "http://[::1]/x",
        "http://[::ffff:7f00:1]/x",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_every_spelling_of_an_internal_address_is_refused(url: str) -> None:
    with pytest.raises(DestinationRefused, match="TANDEM_OUTBOUND_ALLOW_HOSTS"):
        OutboundPolicy().check(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "must be an http"),
        ("file:///etc/passwd", "must be an http"),
        ("http://hooks.example.com@127.0.0.1/x", "user name or password"),
        ("http://user:pw@hooks.example.com/x", "user name or password"),
        ("http://exa mple.com/x", "not a valid host name"),
        ("http://a_b.example.com/x", "not a valid host name"),
        ("http:///x", "must be an http"),
    ],
)
def test_malformed_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(DestinationRefused, match=why):
        OutboundPolicy().check(url, resolve=False)


def test_the_allowlist_admits_names_ports_addresses_and_networks() -> None:
    policy = OutboundPolicy(
        ["127.0.0.1:8080", "hooks.internal", "[::1]:9000", "10.20.0.0/16", " "],
        resolver=lambda host, port: {"hooks.internal": ["10.9.9.9"]}.get(host, []),
    )
    assert policy.check("http://127.0.0.1:8080/x").address == "127.0.0.1"
    assert policy.check("http://[::1]:9000/x").address == "::1"
    assert policy.check("https://10.20.3.4/x").port == 443
    assert policy.check("http://hooks.internal:81/x").address == "10.9.9.9"  # by name
    for refused in ("http://127.0.0.1:8081/x", "http://[::1]/x", "http://10.21.0.1/x"):
        with pytest.raises(DestinationRefused):
            policy.check(refused)
    with pytest.raises(InvalidInput, match="not a host, host:port, address or network"):
        Allowlist.parse(["hooks.internal:99999"])
    with pytest.raises(InvalidInput, match="TANDEM_OUTBOUND_ALLOW_HOSTS entry 'no pe'"):
        Settings.load({"TANDEM_OUTBOUND_ALLOW_HOSTS": "127.0.0.1,no pe"})
    loaded = Settings.load({"TANDEM_OUTBOUND_ALLOW_HOSTS": "127.0.0.1:5000, 10.0.0.0/8"})
    assert loaded.outbound_allow_hosts == ("127.0.0.1:5000", "10.0.0.0/8")


def test_the_allowlist_is_read_from_tandem_toml(tmp_path: Path) -> None:
    (tmp_path / "tandem.toml").write_text('outbound_allow_hosts = ["marquez.internal:5000"]\n')
    assert Settings.load({}, cwd=tmp_path).outbound_allow_hosts == ("marquez.internal:5000",)


def test_a_name_that_stops_resolving_to_a_public_address_is_refused_when_called(
    sink: Sink,
) -> None:
    """DNS rebinding: the name resolved to a public address when it was checked, to loopback
    when it is called; the call checks again and refuses."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    policy = OutboundPolicy(resolver=lambda host, port: next(answers))
    url = f"http://hooks.rebind.test:{sink.port}/hook"
    assert policy.check(url).address == "93.184.216.34"
    with pytest.raises(DestinationRefused, match=r"resolves to 127\.0\.0\.1"):
        policy.post(url, json={"text": "hi"})
    assert sink.received == []


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(sink: Sink) -> None:
    policy = OutboundPolicy(["hooks.pinned.test"], resolver=lambda host, port: ["127.0.0.1"])
    response = policy.post(f"http://hooks.pinned.test:{sink.port}/hook", json={"text": "hi"})
    assert response.status_code == 200
    assert sink.received == [
        {"method": "POST", "path": "/hook", "host": f"hooks.pinned.test:{sink.port}",
         "body": {"text": "hi"}}
    ]  # fmt: skip


# -- webhooks ---------------------------------------------------------------------------------


def test_webhooks_to_internal_addresses_are_refused_and_never_called(
    world: World, sink: Sink, serve: Any
) -> None:
    services = world.services()  # no allowlist
    secret, _ = _padmin(services)
    bearer = {"authorization": f"Bearer {secret}"}
    port = sink.port
    refused = [
        sink.url,
        "http://169.254.169.254/latest/meta-data/iam/",
        f"http://[::1]:{port}/hook",
        "http://10.0.0.1/hook",
        f"http://2130706433:{port}/hook",
        f"http://0x7f000001:{port}/hook",
        f"http://localhost:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        f"http://hooks.example.com@127.0.0.1:{port}/hook",
    ]
    with serve(create_app(services=services)) as url:
        for target in refused:
            answer = httpx.put(
                f"{url}/api/v1/projects/churn/webhook", json={"url": target}, headers=bearer
            )
            assert answer.status_code == 422, (target, answer.text)
            problem = answer.json()
            assert problem["code"] == "destination-refused", problem
            assert (
                "TANDEM_OUTBOUND_ALLOW_HOSTS" in problem["detail"]
                or "user name" in (problem["detail"])
            )
        current = httpx.get(f"{url}/api/v1/projects/churn/webhook", headers=bearer).json()
    assert current["url"] == ""
    _notify(services)
    assert sink.received == []


def test_an_allowed_webhook_is_delivered(world: World, sink: Sink, serve: Any) -> None:
    services = world.services(f"127.0.0.1:{sink.port}")
    secret, _ = _padmin(services)
    with serve(create_app(services=services)) as url:
        answer = httpx.put(
            f"{url}/api/v1/projects/churn/webhook",
            json={"url": sink.url},
            headers={"authorization": f"Bearer {secret}"},
        )
    assert answer.status_code == 200, answer.text
    _notify(services)
    assert [r["body"]["text"][:24] for r in sink.received] == ["@ds: padmin gave you act"]
    # the allowlist names that port only
    other = Sink()
    try:
        with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1 is refused"):
            _, padmin = _padmin(services)
            services.notifier.set_webhook(padmin, "churn", WebhookSet(url=other.url))
    finally:
        other.close()


def test_delivery_checks_the_address_again(world: World, sink: Sink) -> None:
    """A webhook stored while allowed is not called once the allowlist no longer names it:
    the failure is in the audit log, and the change that notified still succeeds."""
    allowed = world.services(f"127.0.0.1:{sink.port}")
    _, padmin = _padmin(allowed)
    allowed.notifier.set_webhook(padmin, "churn", WebhookSet(url=sink.url))
    strict = world.services()
    _notify(strict)
    assert sink.received == []
    assert strict.notifier.mine(_padmin(strict)[1]) == []  # padmin gave, ds was told
    failed = _failed_deliveries(strict)
    assert failed[0]["outcome"] == "failed" and failed[0]["host"] == "127.0.0.1"
    assert "refused" in failed[0]["reason"] and "loopback" in failed[0]["reason"]


def test_a_redirect_is_not_followed(world: World, sink: Sink) -> None:
    bouncer = Sink(redirect_to=sink.url)
    try:
        services = world.services("127.0.0.1")  # both sinks allowed
        _, padmin = _padmin(services)
        services.notifier.set_webhook(padmin, "churn", WebhookSet(url=bouncer.url))
        _notify(services)
        assert len(bouncer.received) == 1 and sink.received == []
        assert _failed_deliveries(services)[0]["reason"] == "answered HTTP 302"
    finally:
        bouncer.close()


# -- OpenLineage ------------------------------------------------------------------------------


def test_openlineage_to_a_refused_address_is_reported_and_the_run_completes(
    settings: Settings, sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tandem.cli import output
    from tandem.cli.main import app
    from tandem.sdk.client import Client
    from tandem.server import embedded

    for key, value in (
        ("TANDEM_HOME", str(settings.home)),
        ("TANDEM_DATABASE_URL", settings.database_url),
        ("TANDEM_ARTIFACTS", settings.artifacts),
    ):
        monkeypatch.setenv(key, value)
    output.reset_client()
    output.OPTIONS.update(url=None, project=None)
    Client(settings=settings).projects.create("churn")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tandem.yaml").write_text(
        "project: churn\nstages:\n  lint:\n    cmd: echo ok > lint.txt\n    outs: [lint.txt]\n"
    )
    try:
        for url in (f"http://localhost:{sink.port}/api/v1/lineage", "http://169.254.169.254/x"):
            result = CliRunner().invoke(
                app, ["run", "--file", str(root / "tandem.yaml"), "--force", "--json",
                      "--openlineage", url],
            )  # fmt: skip
            assert result.exit_code == 0, result.stderr
            assert json.loads(result.stdout)["stages"][0]["status"] == "ran"
            warning = " ".join(result.stderr.split())  # as Rich wrapped it
            assert "warning: OpenLineage endpoint host" in warning
            assert "is refused" in warning and "not a public address" in warning
        assert sink.received == []
    finally:
        output.reset_client()
        embedded.close_all()


# -- OIDC -------------------------------------------------------------------------------------


def _provider(sink: Sink, jwks_uri: str | None = None) -> OidcSettings:
    issuer = f"http://127.0.0.1:{sink.port}"
    sink.documents["/.well-known/openid-configuration"] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": jwks_uri or f"{issuer}/jwks",
    }
    sink.documents["/jwks"] = {"keys": []}
    return OidcSettings(issuer=issuer, client_id="tandem", client_secret="s")


def test_oidc_discovery_at_a_refused_address_fails_clearly(
    world: World, sink: Sink, serve: Any
) -> None:
    oidc = _provider(sink)
    values = {"issuer": oidc.issuer, "client_id": "tandem", "client_secret": "s"}
    services = Services.build(replace(world.settings, oidc=values))
    world.opened.append(services)
    with serve(create_app(services=services)) as url:
        answer = httpx.get(f"{url}/login/oidc")
    assert answer.status_code == 422
    assert "identity provider host 127.0.0.1 is refused" in answer.text
    assert sink.received == []
    # allowed explicitly (a local IdP), discovery works; the keys' URL it names is checked too
    allowed = OidcClient(oidc, outbound=OutboundPolicy([f"127.0.0.1:{sink.port}"]))
    try:
        assert allowed.metadata()["issuer"] == oidc.issuer
    finally:
        allowed.close()
    _provider(sink, jwks_uri="http://169.254.169.254/latest/meta-data/")
    metadata_only = OidcClient(oidc, outbound=OutboundPolicy([f"127.0.0.1:{sink.port}"]))
    try:
        with pytest.raises(DestinationRefused, match=r"169\.254\.169\.254 is refused"):
            metadata_only.metadata()
    finally:
        metadata_only.close()
    assert not any(r["host"].startswith("169.254") for r in sink.received)


def _tls_files(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA (its certificate file) and a server certificate and key for `name`."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def subject(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(subject("test CA")).issuer_name(subject("test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(subject(name)).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(leaf.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def test_https_is_pinned_and_the_certificate_is_checked_for_the_name(
    sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection goes to the checked address, and TLS (SNI, the certificate) is for the
    URL's name: a certificate for another name fails."""
    import ssl

    ca, cert, key = _tls_files(tmp_path, "hooks.tls.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    sink.server.socket = context.wrap_socket(sink.server.socket, server_side=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the test CA, as an operator's private CA
    resolver = {"hooks.tls.test": ["127.0.0.1"], "other.tls.test": ["127.0.0.1"]}
    policy = OutboundPolicy(["hooks.tls.test", "other.tls.test"], resolver=lambda h, p: resolver[h])
    answer = policy.post(f"https://hooks.tls.test:{sink.port}/hook", json={"text": "tls"})
    assert answer.status_code == 200
    assert sink.received[-1]["host"] == f"hooks.tls.test:{sink.port}"
    with pytest.raises(httpx.ConnectError, match="certificate"):
        policy.post(f"https://other.tls.test:{sink.port}/hook", json={"text": "wrong name"})
    assert [r["body"]["text"] for r in sink.received] == ["tls"]
