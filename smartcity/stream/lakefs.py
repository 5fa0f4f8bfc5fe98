"""File operations on the lake and checkpoint URIs through Hadoop's FileSystem API (the JVM's).

One adapter for both worlds: ``file://`` locally, ``s3://`` on Glue (EMRFS) and ``s3a://`` elsewhere go
through the same calls, with the credentials and endpoints Spark already has. On object stores a rename
is a copy then delete: each *object* still appears whole or not at all, which is the property the
exactly-once sink relies on (a reader listing files never sees half a Parquet file).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


class LakeFS:
    """Thin wrapper over ``org.apache.hadoop.fs.FileSystem`` for the few operations the job needs."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm: Any = spark.sparkContext._jvm
        self._conf: Any = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, uri: str) -> Any:
        return self._path(uri).getFileSystem(self._conf)

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
        """Write a small file so that readers see the old content or the new, never a prefix of it."""
        tmp = uri + ".tmp"
        fs = self._fs(uri)
        out = fs.create(self._path(tmp), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        self.rename(tmp, uri)

    def read_text(self, uri: str) -> str | None:
        fs = self._fs(uri)
        path = self._path(uri)
        if not fs.exists(path):
            return None
        stream = fs.open(path)
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            stream.close()


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])
