"""Find a lake table's data files through the Data Catalog, the way a Glue job resolves ``from_catalog``.

The table's location and its partitions' locations come from GetTable/GetPartitions (moto locally, Glue on
AWS); the files under them are listed with the lake's filesystem and filtered with the crawler's own
exclusion globs, so the loader sees the files Athena and the crawler see: never Spark's ``_spark_metadata``,
``_temporary`` attempts or ``.crc`` files. Size and modification time identify a file's version for the
ledger: a rewritten file is loaded again (the MERGE makes that harmless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from smartcity.catalog.exclusions import is_excluded
from smartcity.catalog.lake_files import LakeFiles, open_lake_files
from smartcity.config import Settings
from smartcity.errors import SmartCityError


class SourceError(SmartCityError):
    """A source table is missing from the catalog or its files cannot be listed."""


@dataclass(frozen=True)
class SourceFile:
    """One data file of a catalogued table, as the ledger records it."""

    uri: str
    fs_path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class SourceTable:
    """A catalogued table: where it lives and the data files it holds now."""

    name: str
    location: str
    files: tuple[SourceFile, ...]


def _glue(settings: Settings) -> Any:
    return boto3.client("glue", **settings.boto3_kwargs())


def _locations(glue: Any, database: str, table: str) -> tuple[str, list[str]]:
    try:
        desc = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        raise SourceError(
            f"table {table!r} is not in catalog database {database!r} (run 'smartcity crawl' first)"
        ) from None
    location = desc["StorageDescriptor"]["Location"]
    if not desc.get("PartitionKeys"):
        return location, [location]
    found: list[str] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        found += [p["StorageDescriptor"]["Location"] for p in page["Partitions"]]
    return location, sorted(found)


def _uri(location: str, relative: str) -> str:
    return location.rstrip("/") + "/" + relative


def _list(lake: LakeFiles, location: str) -> list[SourceFile]:
    root = lake.fs_path_of_uri(location)
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    files = []
    for info in lake.fs.get_file_info(selector):
        if info.type != pafs.FileType.File:
            continue
        relative = info.path[len(root.rstrip("/")) + 1 :]
        if is_excluded(relative) or not relative.endswith(".parquet"):
            continue
        mtime = info.mtime_ns if info.mtime_ns is not None else 0
        files.append(SourceFile(_uri(location, relative), info.path, int(info.size or 0), int(mtime)))
    return files


def catalog_table(settings: Settings, table: str, *, glue: Any = None) -> SourceTable:
    """The table's location and every data file under the partitions the catalog lists."""
    glue = glue or _glue(settings)
    location, partition_locations = _locations(glue, settings.catalog_database, table)
    lake = open_lake_files(settings)
    files: dict[str, SourceFile] = {}
    for loc in partition_locations:
        for f in _list(lake, loc):
            files[f.uri] = f
    return SourceTable(table, location, tuple(sorted(files.values(), key=lambda f: f.uri)))


def parquet_rows(settings: Settings, files: list[SourceFile]) -> dict[str, int]:
    """Row count per file from the Parquet footers (no data read), for the ledger and ``rows_read``."""
    lake = open_lake_files(settings)
    out = {}
    for f in files:
        try:
            out[f.uri] = pq.ParquetFile(f.fs_path, filesystem=lake.fs).metadata.num_rows
        except (OSError, pq.lib.ArrowInvalid) as exc:
            raise SourceError(f"cannot read Parquet footer of {f.uri}: {exc}") from None
    return out
