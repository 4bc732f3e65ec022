"""Settings, read once: environment variables, then `tandem.toml`, then defaults.

| setting        | environment            | tandem.toml  | default                               |
|----------------|------------------------|--------------|---------------------------------------|
| workspace home | TANDEM_HOME            | home         | `.tandem/` beside tandem.toml, or cwd |
| database       | TANDEM_DATABASE_URL    | database_url | SQLite at `<home>/tandem.db`          |
| blob storage   | TANDEM_ARTIFACTS       | artifacts    | `<home>/blobs`                        |
| server URL     | TANDEM_URL             | url          | none: embedded workspace              |
| API token      | TANDEM_TOKEN           | -            | none                                  |
| project        | TANDEM_PROJECT         | project      | none                                  |
| OIDC sign-in   | TANDEM_OIDC_ISSUER, TANDEM_OIDC_CLIENT_ID, TANDEM_OIDC_CLIENT_SECRET,   |
|                | TANDEM_OIDC_NAME, TANDEM_OIDC_USERNAME_CLAIM, TANDEM_OIDC_CREATE_USERS  |
| public URL     | TANDEM_PUBLIC_URL      | public_url   | the URL each request arrived on       |
| outbound allow | TANDEM_OUTBOUND_ALLOW_HOSTS, tandem.toml `outbound_allow_hosts`: hosts,   |
|                | host:port or CIDRs webhooks/OpenLineage/OIDC may reach on private networks |
| Host names     | TANDEM_ALLOWED_HOSTS   | allowed_hosts| only localhost, 127.0.0.1, [::1]      |
| body limit     | TANDEM_MAX_BODY_BYTES  | max_body_bytes | 16 MiB (uploads excepted)           |
| upload limit   | TANDEM_MAX_UPLOAD_BYTES | max_upload_bytes | 10 GiB                           |
| data sources   | TANDEM_DATA_ROOTS      | data_roots   | none (embedded: repository and cwd)   |
| column limit   | TANDEM_MAX_COLUMNS     | max_columns  | 2000                                  |
| time budget    | TANDEM_PROFILE_BUDGET_SECONDS | profile_budget_seconds | 120         |

`tandem.toml` is found by walking up from the current directory, as git finds `.git`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

from tandem.core.s3uri import SCHEME, S3Location
from tandem.errors import InvalidInput

CONFIG_FILE = "tandem.toml"
WORKSPACE_DIR = ".tandem"


def find_config_file(start: Path | None = None) -> Path | None:
    """The nearest `tandem.toml` at or above `start`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def _find_workspace(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / WORKSPACE_DIR).is_dir():
            return folder / WORKSPACE_DIR
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}") from exc
    section = data.get("tandem", data)
    return section if isinstance(section, dict) else {}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything tandem reads from its environment, resolved once."""

    home: Path
    database_url: str
    artifacts: str
    url: str | None = None
    token: str | None = None
    project: str | None = None
    config_file: Path | None = None
    oidc: dict[str, str] = field(default_factory=dict)  # TANDEM_OIDC_* without the prefix
    public_url: str | None = None
    # Server-side folders `tandem data add` may read by path (TANDEM_DATA_ROOTS, os.pathsep
    # between them). Empty: a server reads only what is uploaded to it; the embedded workspace
    # then defaults to its repository folder and the current directory (`default_data_roots`).
    data_roots: tuple[Path, ...] = ()
    # Where profiling and validating a dataset runs (TANDEM_EXECUTOR): "local", this process,
    # or "ray", one task per file on a Ray cluster (RAY_ADDRESS, or a local one).
    executor: str = "local"
    # The most bytes one user may upload (artifacts, dataset files, models), counted once per
    # distinct content per user (TANDEM_USER_QUOTA_BYTES; None, the default: no quota). An
    # upload that would pass it is refused with 507 quota-exceeded.
    user_quota_bytes: int | None = None
    # Destinations webhooks, OpenLineage and OIDC may reach although they are not globally
    # routable (TANDEM_OUTBOUND_ALLOW_HOSTS, comma-separated host, host:port or CIDR entries;
    # a list in tandem.toml). Empty: only public addresses (tandem.core.outbound).
    outbound_allow_hosts: tuple[str, ...] = ()
    # The Host names a served app answers to besides the loopback names (TANDEM_ALLOWED_HOSTS,
    # comma-separated; "*" for any); other Hosts get 421 (DNS rebinding). See server/edge.py.
    allowed_hosts: tuple[str, ...] = ()
    # Request body limits (413): uploads (routes that stream files) and every other body.
    max_body_bytes: int = 16 * 2**20
    max_upload_bytes: int = 10 * 2**30
    # Object-store prefixes (`s3://bucket/prefix`) a server may import datasets from: the
    # TANDEM_DATA_ROOTS entries that are s3:// URLs. None configured: s3 import is refused.
    data_s3_roots: tuple[str, ...] = ()
    # Limits on profiling and validating a table (TANDEM_MAX_COLUMNS, and wall-clock seconds
    # per profile or validation, TANDEM_PROFILE_BUDGET_SECONDS): a table past either is refused.
    max_columns: int = 2000
    profile_budget_seconds: float = 120.0

    @classmethod
    def load(cls, environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
        env = os.environ if environ is None else environ
        start = (cwd or Path.cwd()).resolve()
        config_file = find_config_file(start)
        file_values = _read_toml(config_file) if config_file else {}

        def pick(env_key: str, file_key: str) -> str | None:
            value = env.get(env_key) or file_values.get(file_key)
            return str(value) if value not in (None, "") else None

        home_value = pick("TANDEM_HOME", "home")
        if home_value:
            base = config_file.parent if config_file and not env.get("TANDEM_HOME") else start
            home = (base / Path(home_value).expanduser()).resolve()
        elif config_file:
            home = config_file.parent / WORKSPACE_DIR
        else:
            home = _find_workspace(start) or start / WORKSPACE_DIR
        return cls(
            home=home,
            database_url=pick("TANDEM_DATABASE_URL", "database_url")
            or f"sqlite:///{home / 'tandem.db'}",
            artifacts=pick("TANDEM_ARTIFACTS", "artifacts") or str(home / "blobs"),
            url=pick("TANDEM_URL", "url"),
            token=env.get("TANDEM_TOKEN") or None,
            project=pick("TANDEM_PROJECT", "project"),
            config_file=config_file,
            oidc={
                key[len("TANDEM_OIDC_") :].lower(): value
                for key, value in env.items()
                if key.startswith("TANDEM_OIDC_") and value
            },
            public_url=pick("TANDEM_PUBLIC_URL", "public_url"),
            data_roots=_data_roots(
                env.get("TANDEM_DATA_ROOTS"), file_values.get("data_roots"), start
            ),
            executor=_executor(pick("TANDEM_EXECUTOR", "executor")),
            user_quota_bytes=_whole(
                pick("TANDEM_USER_QUOTA_BYTES", "user_quota_bytes"),
                "TANDEM_USER_QUOTA_BYTES",
                None,
                minimum=0,
            ),
            outbound_allow_hosts=_allow_hosts(
                env.get("TANDEM_OUTBOUND_ALLOW_HOSTS"), file_values.get("outbound_allow_hosts")
            ),
            allowed_hosts=tuple(
                dict.fromkeys(
                    name.lower()
                    for name in _entries(
                        env.get("TANDEM_ALLOWED_HOSTS"),
                        file_values.get("allowed_hosts"),
                        "allowed_hosts",
                    )
                )
            ),
            max_body_bytes=_whole(
                pick("TANDEM_MAX_BODY_BYTES", "max_body_bytes"), "TANDEM_MAX_BODY_BYTES", 16 * 2**20
            ),
            max_upload_bytes=_whole(
                pick("TANDEM_MAX_UPLOAD_BYTES", "max_upload_bytes"),
                "TANDEM_MAX_UPLOAD_BYTES",
                10 * 2**30,
            ),
            data_s3_roots=_data_s3_roots(
                env.get("TANDEM_DATA_ROOTS"), file_values.get("data_roots")
            ),
            max_columns=_whole(
                pick("TANDEM_MAX_COLUMNS", "max_columns"), "TANDEM_MAX_COLUMNS", 2000
            ),
            profile_budget_seconds=_seconds(
                pick("TANDEM_PROFILE_BUDGET_SECONDS", "profile_budget_seconds"),
                "TANDEM_PROFILE_BUDGET_SECONDS",
                120.0,
            ),
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def spool_dir(self) -> Path:
        """Where the SDK spools points before shipping them (always local to the client)."""
        return self.home / "spool"


EXECUTORS = ("local", "ray")


@overload
def _whole(value: str | None, name: str, default: int, *, minimum: int = 1) -> int: ...
@overload
def _whole(value: str | None, name: str, default: None, *, minimum: int = 1) -> int | None: ...
def _whole(value: str | None, name: str, default: int | None, *, minimum: int = 1) -> int | None:
    """A whole-number setting (`_` may group digits), at least `minimum`; `default` if unset."""
    if value is None:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise InvalidInput(f"{name} must be a whole number, {minimum} or more, not {value!r}")
    return number


def _seconds(value: str | None, name: str, default: float) -> float:
    """A positive, finite number of seconds; `default` if unset."""
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise InvalidInput(f"{name} must be a positive number of seconds, not {value!r}")
    return number


def _executor(value: str | None) -> str:
    name = (value or "local").strip().lower()
    if name not in EXECUTORS:
        raise InvalidInput(f"unknown executor {name!r}: TANDEM_EXECUTOR must be 'local' or 'ray'")
    return name


def _root_values(env_value: str | None, file_value: Any) -> list[str]:
    if env_value:
        # `s3://` holds the path separator ':' on POSIX: rejoin what splitting tore apart
        values: list[str] = []
        for part in env_value.split(os.pathsep):
            if values and values[-1] == "s3" and part.startswith("//"):
                values[-1] = f"s3:{part}"
            elif part:
                values.append(part)
        return values
    if isinstance(file_value, str):
        return [file_value]
    if isinstance(file_value, list) and all(isinstance(v, str) for v in file_value):
        return list(file_value)
    if file_value is None:
        return []
    raise InvalidInput(
        "data_roots in tandem.toml must be a folder, an s3://bucket/prefix, or a list of them"
    )


def _data_roots(env_value: str | None, file_value: Any, base: Path) -> tuple[Path, ...]:
    values = [v for v in _root_values(env_value, file_value) if not v.startswith(SCHEME)]
    return tuple((base / Path(v).expanduser()).resolve() for v in values)


def _entries(env_value: str | None, file_value: Any, key: str) -> tuple[str, ...]:
    """A list setting: comma-separated in the environment (or a string in tandem.toml), or a
    list of strings in tandem.toml; blank entries dropped."""
    if env_value:
        values = env_value.split(",")
    elif isinstance(file_value, str):
        values = file_value.split(",")
    elif isinstance(file_value, list) and all(isinstance(v, str) for v in file_value):
        values = list(file_value)
    elif file_value is None:
        values = []
    else:
        raise InvalidInput(f"{key} in tandem.toml must be a list of hosts")
    return tuple(v.strip() for v in values if v.strip())


def _allow_hosts(env_value: str | None, file_value: Any) -> tuple[str, ...]:
    entries = _entries(env_value, file_value, "outbound_allow_hosts")
    if entries:  # a typo is an error at start, not a silent refusal later
        from tandem.core.outbound import Allowlist

        Allowlist.parse(entries)
    return entries


def _data_s3_roots(env_value: str | None, file_value: Any) -> tuple[str, ...]:
    values = [v for v in _root_values(env_value, file_value) if v.startswith(SCHEME)]
    return tuple(str(S3Location.parse(v)) for v in values)


def default_data_roots(settings: Settings) -> tuple[Path, ...]:
    """Where an embedded workspace may read data by path when no roots are configured: the
    folder holding the workspace (the repository) and the current directory."""
    if settings.data_roots:
        return settings.data_roots
    return tuple(dict.fromkeys((settings.home.parent.resolve(), Path.cwd().resolve())))
