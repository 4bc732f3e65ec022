"""Server-side data sources and hostile files, over HTTP on loopback, against a real
S3-compatible server (moto's) on loopback.

* `s3://` import is no confused deputy: the server reads with its own credentials only under the
  prefixes an administrator allowed (TANDEM_DATA_ROOTS), and never its own blob store, where
  every project's files live. Local paths likewise: inside the roots, no symbolic link out,
  never the workspace or the blob store.
* Compressed bytes under a plain-text name are refused before anything inflates them; a table
  wider than TANDEM_MAX_COLUMNS is refused from its header; profiling and validation stop at
  TANDEM_PROFILE_BUDGET_SECONDS. Each refusal is a 422 that names the limit, and leaves nothing:
  no dataset, no version, no blob, no staged upload, no scratch file.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from tandem.core.auth import Role
from tandem.core.config import Settings
from tandem.data.limits import DataLimits
from tandem.errors import LimitExceeded, UnreadableData
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.app import create_app
from tandem.server.container import Services

VAULT, LAKE, ELSEWHERE = "vault", "lake", "elsewhere"  # blob store, allowed lake, not allowed
CARDS = b"customer,card\nann,4111111111111111\nbob,5500005555555559\n"
TABLE = b"id,amount,city\n" + b"".join(f"{i},{i * 3 % 97},c{i % 7}\n".encode() for i in range(500))


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    for bucket in (VAULT, LAKE, ELSEWHERE):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=LAKE, Key="shared/2026/part-1.csv", Body=TABLE)
    client.put_object(Bucket=LAKE, Key="shared-private/cards.csv", Body=CARDS)
    client.put_object(Bucket=ELSEWHERE, Key="cards.csv", Body=CARDS)
    yield client
    for bucket in (VAULT, LAKE, ELSEWHERE):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


@dataclass
class Server:
    url: str
    services: Services
    token: str  # a data scientist of project `churn` (data:write there), nothing more
    roots: Path  # the one local folder the server may read
    settings: Settings

    def add(self, name: str, path: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/projects/churn/datasets/{name}/versions",
            json={"path": path},
            headers={"authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    def sdk(self) -> Client:
        return Client(self.url, token=self.token, settings=self.settings)

    def versions(self) -> int:
        """Dataset versions in the whole workspace."""
        from sqlalchemy import func, select

        from tandem.data.tables import dataset_versions

        with self.services.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(dataset_versions)).scalar())

    def leftovers(self) -> list[Path]:
        """Scratch downloads and staged uploads left in the workspace."""
        home = self.services.settings.home
        return [p for d in ("tmp", "staging") for p in (home / d).glob("**/*") if p.is_file()]


def _serve(settings: Settings, serve: Any, tmp_path: Path) -> Iterator[Server]:
    roots = tmp_path / "shared-data"
    roots.mkdir(exist_ok=True)
    settings = settings.with_(data_roots=(roots.resolve(),))
    services = Services.build(settings)
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name="churn"))
    services.projects.create(owner, ProjectCreate(name="bank"))
    services.identity.create_user(owner, UserCreate(name="dee", role=Role.VIEWER))
    services.identity.set_member(owner, "churn", MemberSet(user="dee", role=Role.DATA_SCIENTIST))
    token = services.identity.create_token(owner, TokenCreate(name="t", user="dee")).secret
    # another project's card numbers, in the blob store
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "cards.csv").write_bytes(CARDS)
    services.data.data_roots = (*services.data.data_roots, bank.resolve())
    services.data.add_from_path(owner, "bank", "cards", str(bank / "cards.csv"))
    try:
        with serve(create_app(services=services, allow_open=False)) as url:
            yield Server(url, services, token, roots.resolve(), settings)
    finally:
        services.close()


@pytest.fixture
def server(s3: Any, settings: Settings, serve: Any, tmp_path: Path) -> Iterator[Server]:
    """Blobs in s3://vault/blobs; TANDEM_DATA_ROOTS allows one local folder, s3://lake/shared
    and (by mistake) the whole vault bucket."""
    settings = settings.with_(
        artifacts=f"s3://{VAULT}/blobs", data_s3_roots=(f"s3://{LAKE}/shared", f"s3://{VAULT}")
    )
    yield from _serve(settings, serve, tmp_path)


@pytest.fixture
def local_server(settings: Settings, serve: Any, tmp_path: Path) -> Iterator[Server]:
    """Blobs on the local disk, at a custom TANDEM_ARTIFACTS inside the allowed folder."""
    blobs = tmp_path / "shared-data" / "blobstore"
    yield from _serve(settings.with_(artifacts=str(blobs)), serve, tmp_path)


def _problem(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return str(body["detail"])


# -- s3:// sources ---------------------------------------------------------------------------


def test_the_blob_store_is_never_a_source_even_if_allowed(server: Server, s3: Any) -> None:
    stored = s3.list_objects_v2(Bucket=VAULT)["KeyCount"]
    assert stored == 1  # the bank's cards
    for uri in (f"s3://{VAULT}/", f"s3://{VAULT}", f"s3://{VAULT}/blobs", f"s3://{VAULT}/blobs/"):
        detail = _problem(server.add("stolen", uri), 422, "unsafe-path")
        assert "blob store" in detail
    # a prefix inside the store, naming the oid directory of the cards
    key = s3.list_objects_v2(Bucket=VAULT)["Contents"][0]["Key"]
    detail = _problem(server.add("stolen", f"s3://{VAULT}/{key}"), 422, "unsafe-path")
    assert "blob store" in detail
    assert server.versions() == 1 and server.leftovers() == []
    assert s3.list_objects_v2(Bucket=VAULT)["KeyCount"] == stored
    with server.sdk() as dee:
        assert [d.name for d in dee.data.list(project="churn").items] == []


def test_only_allowed_prefixes_whole_segments(server: Server) -> None:
    refused = [f"s3://{ELSEWHERE}/", f"s3://{ELSEWHERE}/cards.csv", f"s3://{LAKE}/"]
    refused += [f"s3://{LAKE}/shared-private/", f"s3://{LAKE}/shared/../shared-private"]
    for uri in refused:
        response = server.add("stolen", uri)
        assert response.status_code == 422, (uri, response.text)
        assert response.json()["code"] in ("unsafe-path", "invalid-input")
    detail = _problem(server.add("stolen", f"s3://{ELSEWHERE}/"), 422, "unsafe-path")
    assert "TANDEM_DATA_ROOTS" in detail and f"s3://{LAKE}/shared" in detail
    assert server.versions() == 1 and server.leftovers() == []

    response = server.add("lake", f"s3://{LAKE}/shared/2026/")
    assert response.status_code == 201, response.text
    assert (response.json()["rows"], response.json()["file_count"]) == (500, 1)
    with server.sdk() as dee:
        out = server.roots.parent / "out"
        dee.data.download("churn/lake@v1", out)
        assert (out / "part-1.csv").read_bytes() == TABLE
    assert server.leftovers() == []


def test_no_s3_roots_no_s3_import(s3: Any, settings: Settings, serve: Any, tmp_path: Path) -> None:
    server = _serve(settings.with_(artifacts=f"s3://{VAULT}/blobs"), serve, tmp_path)
    world = next(server)
    try:
        detail = _problem(world.add("lake", f"s3://{LAKE}/shared/"), 422, "unsafe-path")
        assert "none are configured" in detail and "TANDEM_DATA_ROOTS" in detail
    finally:
        server.close()


# -- local paths -----------------------------------------------------------------------------


def test_local_paths_stay_in_the_roots(local_server: Server, tmp_path: Path) -> None:
    server = local_server
    secret = tmp_path / "secret.csv"
    secret.write_bytes(CARDS)
    (server.roots / "ok.csv").write_bytes(TABLE)
    (server.roots / "link.csv").symlink_to(secret)
    folder = server.roots / "folder"
    folder.mkdir()
    (folder / "inner.csv").write_bytes(TABLE)
    (folder / "escape").symlink_to(tmp_path)
    _problem(server.add("stolen", str(secret)), 422, "unsafe-path")
    _problem(server.add("stolen", "/etc/passwd"), 422, "unsafe-path")
    _problem(server.add("stolen", str(server.roots / ".." / "secret.csv")), 422, "unsafe-path")
    _problem(server.add("stolen", str(server.roots / "link.csv")), 422, "unsafe-path")
    _problem(server.add("stolen", str(folder)), 422, "unsafe-path")
    _problem(server.add("stolen", str(folder / "escape" / "secret.csv")), 422, "unsafe-path")
    # the blob store (a custom TANDEM_ARTIFACTS inside the root) and the workspace
    blobs = Path(server.services.settings.artifacts)
    assert blobs.is_relative_to(server.roots) and any(blobs.rglob("*"))
    detail = _problem(server.add("stolen", str(blobs)), 422, "unsafe-path")
    assert "workspace" in detail or "blob" in detail
    blob = next(p for p in blobs.rglob("*") if p.is_file() and p.parent.parent == blobs)
    _problem(server.add("stolen", str(blob)), 422, "unsafe-path")
    assert server.versions() == 1
    (folder / "escape").unlink()
    (server.roots / "link.csv").unlink()
    # the root itself: its files, but nothing of the blob store inside it
    response = server.add("shared", str(server.roots))
    assert response.status_code == 201, response.text
    with server.sdk() as dee:
        files = [f.path for f in dee.data.version("churn/shared@v1").files or []]
    assert files == ["folder/inner.csv", "ok.csv"]


# -- hostile files ---------------------------------------------------------------------------


def _bomb(path: Path, inflated: int = 150 << 20) -> None:
    """A CSV of `inflated` bytes, gzipped (about 1,000 to 1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    row = b"1,2,3,4,5,6,7,8\n" * 65536
    with path.open("wb") as out:
        out.write(compressor.compress(b"a,b,c,d,e,f,g,h\n"))
        for _ in range(inflated // len(row)):
            out.write(compressor.compress(row))
        out.write(compressor.flush())


def test_compressed_data_named_as_text_is_refused(local_server: Server, tmp_path: Path) -> None:
    server = local_server
    bomb = tmp_path / "upload" / "numbers.csv"
    bomb.parent.mkdir()
    _bomb(bomb)
    assert bomb.stat().st_size < 400 << 10
    with server.sdk() as dee, pytest.raises(UnreadableData, match=r"numbers\.csv.*gzip"):
        dee.data.add("numbers", bomb, project="churn")  # uploaded, then refused
    (server.roots / "rows.jsonl").write_bytes(gzip.compress(b'{"a": 1}\n' * 1000))
    detail = _problem(server.add("rows", str(server.roots / "rows.jsonl")), 422, "unreadable-data")
    assert "rows.jsonl" in detail and "gzip" in detail
    (server.roots / "notes.txt").write_bytes(zlib.compress(b"note\n" * 1000))
    _problem(server.add("notes", str(server.roots / "notes.txt")), 422, "unreadable-data")
    assert server.versions() == 1 and server.leftovers() == []
    # a real .csv.gz is a file, stored as is and never inflated
    (server.roots / "rows.csv.gz").write_bytes(gzip.compress(TABLE))
    response = server.add("archive", str(server.roots / "rows.csv.gz"))
    assert response.status_code == 201, response.text
    assert (response.json()["format"], response.json()["rows"]) == (None, None)


def test_too_many_columns_are_refused_from_the_header(local_server: Server) -> None:
    server = local_server
    wide = server.roots / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(3000)) + "\n" + ",".join("1" * 3000) + "\n")
    assert wide.stat().st_size < 40 << 10
    detail = _problem(server.add("wide", str(wide)), 422, "limit-exceeded")
    assert "3,000 columns" in detail and "2,000" in detail and "TANDEM_MAX_COLUMNS" in detail
    quoted = server.roots / "quoted.csv"  # commas inside quotes are not columns
    quoted.write_text('"a,b",c\n"1,2",3\n')
    server.services.data.limits = DataLimits(max_columns=2)
    assert server.add("quoted", str(quoted)).status_code == 201
    with server.sdk() as dee, pytest.raises(LimitExceeded, match="TANDEM_MAX_COLUMNS"):
        dee.data.add("wide", wide, project="churn")
    assert server.versions() == 2 and server.leftovers() == []


def test_profiling_and_validation_stop_at_the_time_budget(local_server: Server) -> None:
    server = local_server
    table = server.roots / "table.csv"
    table.write_bytes(TABLE)
    server.services.data.limits = DataLimits(budget_seconds=0.001)
    response = server.add("table", str(table))
    detail = _problem(response, 422, "limit-exceeded")
    assert "0.001 s" in detail and "TANDEM_PROFILE_BUDGET_SECONDS" in detail
    assert response.json()["details"]["limit"] == "profile_budget_seconds"
    with server.sdk() as dee:
        with pytest.raises(LimitExceeded, match="budget"):
            dee.data.add("table", table, project="churn")
        assert server.versions() == 1 and server.leftovers() == []
        # a version added in time, then validated against a tiny budget
        server.services.data.limits = DataLimits()
        dee.data.add("table", table, project="churn")
        draft = dee.data.draft_contract("churn/table@v1")
        server.services.data.limits = DataLimits(budget_seconds=0.001)
        with pytest.raises(LimitExceeded, match="validating the table"):
            dee.data.validate("churn/table@v1", contract=draft)
        assert dee.data.version("churn/table@v1").validation is None


def test_limits_are_settings(tmp_path: Path) -> None:
    env = {
        "TANDEM_HOME": str(tmp_path),
        "TANDEM_DATA_ROOTS": os.pathsep.join([str(tmp_path), "s3://lake/shared/", "s3://x-y.z"]),
        "TANDEM_MAX_COLUMNS": "50",
        "TANDEM_PROFILE_BUDGET_SECONDS": "2.5",
    }
    settings = Settings.load(env, cwd=tmp_path)
    assert settings.data_roots == (tmp_path.resolve(),)
    assert settings.data_s3_roots == ("s3://lake/shared", "s3://x-y.z")
    assert (settings.max_columns, settings.profile_budget_seconds) == (50, 2.5)
    defaults = Settings.load({"TANDEM_HOME": str(tmp_path)}, cwd=tmp_path)
    assert (defaults.max_columns, defaults.profile_budget_seconds) == (2000, 120.0)
    from tandem.errors import InvalidInput

    for bad in ({"TANDEM_MAX_COLUMNS": "0"}, {"TANDEM_PROFILE_BUDGET_SECONDS": "soon"},
                {"TANDEM_DATA_ROOTS": "s3://Bad_Bucket/x"}):  # fmt: skip
        with pytest.raises(InvalidInput):
            Settings.load({"TANDEM_HOME": str(tmp_path), **bad}, cwd=tmp_path)
