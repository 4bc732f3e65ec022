"""Adding a dataset version from an `s3://bucket/prefix`: every object under the prefix (or the
one object the prefix names), downloaded into a scratch folder, then added like local files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from tandem.core.paths import check_artifact_path
from tandem.data.ingest import MAX_FILES, SourceFile
from tandem.errors import InvalidInput, NotFound, ServerError, UnsafePath


def download_prefix(uri: str, folder: Path) -> list[SourceFile]:
    """Download the objects under `uri` into `folder`; their keys below the prefix become the
    version's paths.

    Raises:
        InvalidInput: not an s3:// URI, or boto3 is missing.
        NotFound: no objects under the prefix.
    """
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidInput(f"invalid S3 location {uri!r}: use s3://bucket/prefix")
    from tandem.store.s3 import s3_client

    client = s3_client()
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    keys: list[tuple[str, str]] = []  # (key, path inside the version)
    try:
        paginator = client.get_paginator("list_objects_v2")
        folder_prefix = prefix.rstrip("/") + "/" if prefix else ""
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
