"""The lake as a file tree: list and read it the same way whether it is a local folder or S3.

One port, two adapters: pyarrow's ``LocalFileSystem`` for ``file://`` and ``S3FileSystem`` for ``s3://``
(pointed at moto's endpoint locally: pyarrow reads Parquet on moto's S3, and ships in its wheel where
DuckDB's httpfs extension would be downloaded at run time). Everything above this module sees relative
paths and URIs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

from smartcity.config import Settings
from smartcity.errors import UsageError


@dataclass(frozen=True)
class LakeFile:
    """A file under a table root: its path relative to that root, its size and its full filesystem path."""

    relative: str
    size: int
    fs_path: str


class LakeFiles:
    """The lake rooted at ``settings.lake_uri`` as a read-only file tree: list files, map paths and URIs."""

    def __init__(self, fs: pafs.FileSystem, root: str, uri_root: str) -> None:
        self.fs = fs
        self._root = root.rstrip("/")
        self._uri_root = uri_root.rstrip("/")

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def fs_path(self, relative: str) -> str:
        return f"{self._root}/{relative.strip('/')}" if relative.strip("/") else self._root

    def uri(self, relative: str) -> str:
        """The catalog location of a folder: a URI ending in ``/`` as the Glue crawler writes it."""
        rel = relative.strip("/")
        return f"{self._uri_root}/{rel}/" if rel else f"{self._uri_root}/"

    def fs_path_of_uri(self, uri: str) -> str:
        """Map a catalog location back to a filesystem path (for locations this lake wrote)."""
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            return unquote(parsed.path).rstrip("/")
        if parsed.scheme in ("s3", "s3a"):
            return f"{parsed.netloc}{parsed.path}".rstrip("/")
        raise UsageError(f"unsupported table location {uri!r} (expected file:// or s3://)")

    def list_files(self, fs_dir: str) -> list[LakeFile]:
        """Every file below ``fs_dir`` (recursive), relative to it; a missing folder is simply empty."""
        selector = pafs.FileSelector(fs_dir, recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except FileNotFoundError:
            return []
        prefix = fs_dir.rstrip("/") + "/"
        return [
            LakeFile(relative=i.path[len(prefix) :], size=int(i.size or 0), fs_path=i.path)
            for i in infos
            if i.type == pafs.FileType.File and i.path.startswith(prefix)
        ]


def open_lake_files(settings: Settings) -> LakeFiles:
    """The lake of ``settings``: a local folder for ``file://`` URIs, S3 (or moto's S3) for ``s3://``."""
    uri = settings.lake_uri
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return LakeFiles(pafs.LocalFileSystem(), unquote(parsed.path), uri)
    if parsed.scheme in ("s3", "s3a"):
        kwargs: dict[str, object] = {"region": settings.aws_region}
        if settings.aws_endpoint_url:
            kwargs["endpoint_override"] = settings.aws_endpoint_url
            kwargs["scheme"] = urlparse(settings.aws_endpoint_url).scheme or "http"
        if settings.profile == "local":
            boto = settings.boto3_kwargs()
            kwargs["access_key"] = boto["aws_access_key_id"]
            kwargs["secret_key"] = boto["aws_secret_access_key"]
        fs = pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]
        return LakeFiles(fs, f"{parsed.netloc}{parsed.path}", f"s3://{parsed.netloc}{parsed.path}")
    raise UsageError(f"unsupported lake URI {uri!r} (expected file:// or s3://)")
