"""Scan one table folder: its data files, Hive partitions, merged Parquet schema and statistics.

Pure with respect to the catalog: this only reads the lake, so the crawler's decisions (create, update,
add partitions) can be tested on a folder alone. What AWS's crawler would do is followed where it matters to
readers: files matching the exclusion globs are not data, ``key=value`` folders are string partition keys, and
a file that is not readable Parquet is reported instead of breaking the whole table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from smartcity.catalog.exclusions import is_excluded
from smartcity.catalog.lake_files import LakeFile, LakeFiles
from smartcity.catalog.schema import MergedSchema
from smartcity.catalog.tables import LakeTable


@dataclass
class PartitionScan:
    """One partition folder: its values (in key order), folder relative to the table root, and its files."""

    values: tuple[str, ...]
    relative: str
    files: list[LakeFile] = field(default_factory=list)


@dataclass
class TableScan:
    """What the lake holds for one table."""

    table: LakeTable
    partition_keys: tuple[str, ...] = ()
    partitions: dict[tuple[str, ...], PartitionScan] = field(default_factory=dict)
    schema: MergedSchema = field(default_factory=MergedSchema)
    files: int = 0
    size_bytes: int = 0
    records: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return self.files > 0


def _partition_of(relative: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``dt=2024-01-01/hour=05/part-0.parquet`` → (("dt","hour"), ("2024-01-01","05")); None if not Hive."""
    folders = relative.split("/")[:-1]
    keys: list[str] = []
    values: list[str] = []
    for folder in folders:
        key, sep, value = folder.partition("=")
        if not sep or not key:
            return None
        keys.append(unquote(key))
        values.append(unquote(value))
    return tuple(keys), tuple(values)


def scan_table(lake: LakeFiles, table: LakeTable) -> TableScan:
    """List, classify and read the footers of every data file under the table's folder."""
    scan = TableScan(table=table)
    candidates: list[tuple[tuple[str, ...], tuple[str, ...], LakeFile]] = []
    for f in lake.list_files(lake.fs_path(table.path)):
        if is_excluded(f.relative):
            continue
        parsed = _partition_of(f.relative)
        if parsed is None:
            scan.warnings.append(f"{f.relative}: not under key=value partition folders, skipped")
            continue
        if not f.relative.endswith(".parquet"):
            scan.warnings.append(f"{f.relative}: not a .parquet file, skipped")
            continue
        candidates.append((parsed[0], parsed[1], f))
    if not candidates:
        return scan

    # One key layout per table, like the crawler's single-table grouping; outliers are reported.
    layouts = Counter(keys for keys, _, _ in candidates)
    keys = layouts.most_common(1)[0][0]
    scan.partition_keys = keys
    # Oldest partitions first, so the column order is the order in which columns appeared over time.
    for file_keys, values, f in sorted(candidates, key=lambda c: (c[1], c[2].relative)):
        if file_keys != keys:
            scan.warnings.append(f"{f.relative}: partition keys {list(file_keys)} differ from {list(keys)}")
            continue
        try:
            meta = pq.ParquetFile(lake.fs.open_input_file(f.fs_path)).metadata
            schema = meta.schema.to_arrow_schema()
        except Exception as exc:  # unreadable footer: a partial or foreign file
            scan.warnings.append(f"{f.relative}: unreadable Parquet ({type(exc).__name__}), skipped")
            continue
        file_columns = [n for n in schema.names if n not in keys]
        scan.schema.add(pa.schema([schema.field(n) for n in file_columns]), f.relative)
        part = scan.partitions.get(values)
        if part is None:
            relative = "/".join(f.relative.split("/")[:-1])
            part = scan.partitions[values] = PartitionScan(values=values, relative=relative)
        part.files.append(f)
        scan.files += 1
        scan.size_bytes += f.size
        scan.records += meta.num_rows
    return scan
