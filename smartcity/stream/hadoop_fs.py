"""File operations on the lake and checkpoint URIs through Hadoop's FileSystem API (the JVM's).

One adapter for both worlds: ``file://`` locally, and ``s3://``/``s3a://`` through S3A (the S3 connector
of AWS Glue 5.1, and of the local S3 mode on moto) go through the same calls, with the credentials and
endpoints Spark already has. S3 has no rename: S3A renames a file by a COPY of the object then a DELETE
of the source, so for a moment both keys exist. Each *object* still appears whole or not at all (a PUT
or COPY is visible only once complete), which is what the exactly-once sink relies on: it keeps staged
and published names in disjoint prefixes, so a reader listing a table never sees a file twice
(``smartcity.stream.sink``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from pyspark.sql import SparkSession

# S3A's counter of requests made of the store (an IOStatistics name): every HEAD, LIST, GET, PUT, COPY and
# DELETE, including the copy's own HEAD of its source that the per-verb counters leave out.
S3A_REQUEST_COUNTER = "store_io_request"
OBJECT_STORE_SCHEMES = ("s3", "s3a")


class HadoopFS:
    """Thin wrapper over ``org.apache.hadoop.fs.FileSystem`` for the few operations the job needs."""

    def __init__(self, spark: SparkSession) -> None:
        jvm: Any = spark.sparkContext._jvm
        self._conf: Any = spark.sparkContext._jsc.hadoopConfiguration()
        # The JVM classes, looked up once: each step of a package name is a call into the JVM.
        self._path_class: Any = jvm.org.apache.hadoop.fs.Path
        self._io_utils: Any = jvm.org.apache.commons.io.IOUtils
        # One per scheme and authority, as Hadoop caches them.
        self._filesystems: dict[tuple[str, str], Any] = {}

    def _path(self, uri: str) -> Any:
        return self._path_class(uri)

    def _fs(self, uri: str) -> Any:
        parsed = urlparse(uri)
        key = (parsed.scheme, parsed.netloc)
        fs = self._filesystems.get(key)
        if fs is None:
            fs = self._filesystems[key] = self._path(uri).getFileSystem(self._conf)
        return fs

    def exists(self, uri: str) -> bool:
        return bool(self._fs(uri).exists(self._path(uri)))

    def delete(self, uri: str, recursive: bool = True) -> None:
        fs = self._fs(uri)
        path = self._path(uri)
        if fs.exists(path):
            fs.delete(path, recursive)

    def mkdirs(self, uri: str) -> None:
        self._fs(uri).mkdirs(self._path(uri))

    def rename(self, src: str, dst: str) -> None:
        """Move one file, replacing ``dst``; parents are created."""
        fs = self._fs(dst)
        target = self._path(dst)
        if fs.exists(target):
            fs.delete(target, False)
        if not self.is_object_store(dst):  # S3A needs no parent folder (and would PUT a marker object)
            fs.mkdirs(target.getParent())
        if not fs.rename(self._path(src), target):
            raise OSError(f"could not move {src} to {dst}")

    def list_files(self, uri: str, suffix: str = "") -> list[str]:
        """Every file under ``uri`` (recursive), skipping Hadoop's hidden names (``_*``, ``.*``)."""
        fs = self._fs(uri)
        root = self._path(uri)
        if not fs.exists(root):
            return []
        out: list[str] = []
        it = fs.listFiles(root, True)
        while it.hasNext():
            status = it.next()
            path = status.getPath()
            name = path.getName()
            if name.startswith(("_", ".")) or not name.endswith(suffix):
                continue
            out.append(path.toString())
        return sorted(out)

    def list_names(self, uri: str) -> list[str]:
        """Names directly under ``uri`` (files and directories)."""
        fs = self._fs(uri)
        root = self._path(uri)
        if not fs.exists(root):
            return []
        return sorted(str(s.getPath().getName()) for s in fs.listStatus(root))

    def write_text(self, uri: str, text: str) -> None:
        """Write a small file so that readers see the old content or the new, never a prefix of it:
        on S3 one PUT (visible only once complete), elsewhere a temporary file renamed over it."""
        direct = self.is_object_store(uri)
        target = uri if direct else uri + ".tmp"
        out = self._fs(uri).create(self._path(target), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        if not direct:
            self.rename(target, uri)

    @staticmethod
    def is_object_store(uri: str) -> bool:
        return urlparse(uri).scheme in OBJECT_STORE_SCHEMES

    def store_requests(self, *uris: str) -> int | None:
        """Requests sent to S3 so far by the filesystems of ``uris`` (one per bucket, shared with the
        local executors, which run in this JVM); None when none of them is on S3."""
        buckets = {(p.scheme, p.netloc) for p in map(urlparse, uris) if p.scheme in OBJECT_STORE_SCHEMES}
        if not buckets:
            return None
        total = 0
        for scheme, bucket in sorted(buckets):
            counters = self._fs(f"{scheme}://{bucket}/").getIOStatistics().counters()
            total += int(counters.get(S3A_REQUEST_COUNTER) or 0)
        return total

    def read_text(self, uri: str) -> str | None:
        fs = self._fs(uri)
        path = self._path(uri)
        if not fs.exists(path):
            return None
        stream = fs.open(path)
        try:
            return str(self._io_utils.toString(stream, "UTF-8"))
        finally:
            stream.close()


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])
