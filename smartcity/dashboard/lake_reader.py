"""Reading the lake's small objects: a local folder or S3 (boto3), behind one interface.

The dashboard only reads: the live snapshot, the per-step metrics files and the raw vehicle table's
Parquet files for a track. Keys are paths relative to the lake URI, with ``/`` separators.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from smartcity.errors import UsageError


class LakeReader(Protocol):
    """Read-only access to the lake's objects by key (relative to the lake URI)."""

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        ...

    def version(self, key: str) -> str | None:
        """A value that changes whenever the object is replaced (None: it does not exist)."""
        ...

    def names(self, prefix: str, start_after: str = "") -> list[str]:
        """Keys under ``prefix`` (recursive), sorted, those after ``start_after`` only."""
        ...


class LocalLakeReader:
    """A lake in a local folder (``file://`` URI)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def version(self, key: str) -> str | None:
        try:
            st = (self.root / key).stat()
        except FileNotFoundError:
            return None
        return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"

    def names(self, prefix: str, start_after: str = "") -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        keys = (str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())
        return sorted(k for k in keys if k > start_after)


class S3LakeReader:
    """A lake under ``s3://bucket/prefix`` read through boto3 with the caller's credentials."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def read(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def version(self, key: str) -> str | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return str(head["ETag"])

    def names(self, prefix: str, start_after: str = "") -> list[str]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            kwargs["StartAfter"] = self.prefix + start_after
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
            out += [o["Key"][len(self.prefix) :] for o in page.get("Contents", [])]
        return sorted(out)


def open_lake_reader(lake_uri: str, s3_client: Any | None = None) -> LakeReader:
    """The reader for a ``file://`` or ``s3://`` lake URI (``s3_client``: a boto3 S3 client)."""
    parsed = urlparse(lake_uri)
    if parsed.scheme == "file":
        return LocalLakeReader(Path(parsed.path))
    if parsed.scheme in ("s3", "s3a"):
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3LakeReader(s3_client, parsed.netloc, parsed.path)
    raise UsageError(f"lake URI {lake_uri!r}: the dashboard reads file:// or s3:// lakes")
