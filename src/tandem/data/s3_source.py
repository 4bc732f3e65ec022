"""Adding a dataset version from an `s3://bucket/prefix`: every object under the prefix (or the
one object the prefix names), downloaded into a scratch folder, then added like local files.

The server reads with its own credentials, which may reach far more than the member asking
(its blob store holds every project's files): so a prefix is read only inside the prefixes an
administrator listed in TANDEM_DATA_ROOTS, and never where the blob store lives
(`check_s3_source`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tandem.core.paths import check_artifact_path
from tandem.core.s3uri import S3Location
from tandem.data.ingest import MAX_FILES, SourceFile
from tandem.errors import InvalidInput, NotFound, ServerError, UnsafePath


def check_s3_source(
    uri: str, roots: Sequence[S3Location], blob_store: S3Location | None
) -> S3Location:
    """The location `uri` names, if the server may read it for a member: at or under one of
    `roots` (whole path segments), and neither inside nor around the `blob_store`.

    Raises:
        InvalidInput: not a valid s3:// location.
        UnsafePath: outside the allowed prefixes, or overlapping the blob store.
    """
    location = S3Location.parse(uri)
    if blob_store is not None and location.overlaps(blob_store):
        raise UnsafePath(
            f"{uri} overlaps tandem's own blob store, which holds every project's files: "
            "it is never a data source"
        )
    if not any(root.contains(location) for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "none are configured"
        raise UnsafePath(
            f"{uri} is outside the object-store prefixes tandem may read data from "
            f"({allowed}); an administrator can allow a prefix in TANDEM_DATA_ROOTS "
            "(s3://bucket/prefix), or upload the files instead"
        )
    return location


def download_prefix(location: S3Location, folder: Path) -> list[SourceFile]:
    """Download the objects under `location` into `folder`; their keys below the prefix
    become the version's paths.

    Raises:
        InvalidInput: boto3 is missing, or too many objects.
        NotFound: no objects under the prefix.
    """
    from tandem.store.s3 import s3_client

    client = s3_client()
    uri = str(location)
    bucket, prefix = location.bucket, location.prefix
    keys: list[tuple[str, str]] = []  # (key, path inside the version)
    try:
        paginator = client.get_paginator("list_objects_v2")
        folder_prefix = prefix + "/" if prefix else ""
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key == prefix:
                    keys.append((key, key.rsplit("/", 1)[-1]))
                elif key.startswith(folder_prefix) and not key.endswith("/"):
                    keys.append((key, key[len(folder_prefix) :]))
                if len(keys) > MAX_FILES:
                    raise InvalidInput(f"{uri} holds more than {MAX_FILES:,} objects")
    except InvalidInput:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServerError(f"listing {uri} failed: {reason}") from exc
    if not keys:
        raise NotFound(f"{uri}: no objects under this prefix")
    files: list[SourceFile] = []
    for key, relative in sorted(keys, key=lambda k: k[1]):
        try:
            path = check_artifact_path(relative)
        except UnsafePath as error:
            raise UnsafePath(f"s3://{bucket}/{key}: {error}") from None
        local = folder / f"{len(files):06d}"
        try:
            client.download_file(bucket, key, str(local))
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ServerError(f"downloading s3://{bucket}/{key} failed: {reason}") from exc
        st = local.stat()
        files.append(SourceFile(path, local, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return files
