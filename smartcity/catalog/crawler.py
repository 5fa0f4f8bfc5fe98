"""The local stand-in for the AWS Glue crawlers: lake folders → Data Catalog tables and partitions.

It talks to the real Glue Data Catalog API (moto's server locally), so what readers see afterwards is what
they would see in AWS after the crawlers of ``template.yaml`` ran with the same policies:
- grouping: one table per lake table folder (``CombineCompatibleSchemas``), named as in ``tables.py``;
- schema change: ``UPDATE_IN_DATABASE`` with ``MergeNewColumns`` (new columns appended, none dropped or
  retyped) and partitions ``InheritFromTable`` (existing partitions take the new columns);
- delete: ``LOG`` (a vanished table or partition is reported, never removed);
- recrawl: only partitions that are not registered yet are created (``BatchCreatePartition``).
A re-run over an unchanged lake makes no API writes and reports ``0 changes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError

from smartcity.catalog import glue_model as gm
from smartcity.catalog.lake_files import LakeFiles, open_lake_files
from smartcity.catalog.report import CrawlReport, TableReport
from smartcity.catalog.scan import TableScan, scan_table
from smartcity.catalog.schema import merge_onto
from smartcity.catalog.tables import LakeTable, select_tables
from smartcity.config import Settings
from smartcity.errors import SmartCityError, StackError

# Glue API limits: BatchCreatePartition and BatchUpdatePartition take at most 100 entries per call.
_BATCH = 100


def glue_client(settings: Settings) -> Any:
    return boto3.client("glue", **settings.boto3_kwargs())


def crawl(settings: Settings, tables: list[str] | None = None, *, glue: Any = None) -> CrawlReport:
    """Crawl the lake tables (all, or the named ones) into ``settings.catalog_database``."""
    selected = select_tables(tables)
    glue = glue or glue_client(settings)
    lake = open_lake_files(settings)
    report = CrawlReport(database=settings.catalog_database, lake_uri=settings.lake_uri)
    with catalog_errors(settings):
        report.database_created = _ensure_database(glue, settings.catalog_database)
        for table in selected:
            report.tables.append(_crawl_table(glue, settings, lake, table))
    return report


@contextmanager
def catalog_errors(settings: Settings) -> Iterator[None]:
    """An unreachable catalog endpoint is an expected failure (stack not started): one line, not a trace."""
    try:
        yield
    except EndpointConnectionError:
        raise StackError(
            f"the Glue Data Catalog at {settings.aws_endpoint_url or 'AWS'} is unreachable"
            " (locally: start it with 'smartcity up')"
        ) from None


def _ensure_database(glue: Any, database: str) -> bool:
    try:
        glue.get_database(Name=database)
        return False
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database})
        return True


def _get_table(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def registered_partitions(glue: Any, database: str, table: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every registered partition of a table, by its values."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for p in page["Partitions"]:
            out[tuple(p["Values"])] = p
    return out


def _chunks(items: list[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _crawl_table(glue: Any, settings: Settings, lake: LakeFiles, table: LakeTable) -> TableReport:
    database = settings.catalog_database
    location = lake.uri(table.path)
    scan = scan_table(lake, table)
    existing = _get_table(glue, database, table.name)
    rep = TableReport(table=table.name, location=location, warnings=list(scan.warnings))
    rep.warnings.extend(scan.schema.conflicts)

    if not scan.has_data:
        rep.status = "vanished" if existing is not None else "empty"
        if existing is not None:
            rep.partitions_missing = ["/".join(v) for v in registered_partitions(glue, database, table.name)]
        return rep

    crawler = table.crawler_name(settings)
    existing_columns = gm.columns_of(existing["StorageDescriptor"]) if existing else []
    merged = merge_onto(existing_columns, scan.schema.columns)
    rep.warnings.extend(merged.conflicts)
    rep.columns_added = [n for n, _ in merged.columns[len(existing_columns) :]] if existing else []
    params = gm.table_parameters(
        crawler, records=scan.records, size_bytes=scan.size_bytes, objects=scan.files
    )
    rep.files, rep.records, rep.partitions = scan.files, scan.records, len(scan.partitions)

    if existing is not None:
        existing_keys = tuple(k["Name"] for k in existing.get("PartitionKeys", []))
        if existing_keys != scan.partition_keys:
            rep.status = "error"
            rep.warnings.append(
                f"partition keys in the lake {list(scan.partition_keys)} differ from the catalog's "
                f"{list(existing_keys)}; table left unchanged"
            )
            return rep
        # Keep parameters others added (e.g. projection settings); the crawler owns only its own keys.
        params = {**existing.get("Parameters", {}), **params}
    desired = gm.table_input(table.name, merged.columns, scan.partition_keys, location, params)

    if existing is None:
        glue.create_table(DatabaseName=database, TableInput=desired)
        rep.status = "created"
    elif gm.comparable_table(existing) != desired:
        glue.update_table(DatabaseName=database, TableInput=desired)
        rep.status = "updated"

    _sync_partitions(glue, database, table, lake, scan, merged.columns, crawler, rep)
    return rep


def _sync_partitions(
    glue: Any,
    database: str,
    table: LakeTable,
    lake: LakeFiles,
    scan: TableScan,
    columns: list[tuple[str, str]],
    crawler: str,
    rep: TableReport,
) -> None:
    registered = registered_partitions(glue, database, table.name) if rep.status != "created" else {}
    params = gm.crawler_parameters(crawler)

    def part_input(values: tuple[str, ...]) -> dict[str, Any]:
        rel = f"{table.path}/{scan.partitions[values].relative}"
        return gm.partition_input(values, columns, lake.uri(rel), params)

    new = [part_input(v) for v in sorted(scan.partitions) if v not in registered]
    for chunk in _chunks(new):
        errors = glue.batch_create_partition(
            DatabaseName=database, TableName=table.name, PartitionInputList=chunk
        ).get("Errors", [])
        _raise_on(errors, f"creating partitions of {table.name}")
    rep.partitions_added = len(new)

    # InheritFromTable: registered partitions whose columns lag behind the table get the table's columns.
    stale = [
        v
        for v, p in registered.items()
        if v in scan.partitions and gm.columns_of(p["StorageDescriptor"]) != columns
    ]
    for chunk in _chunks(stale):
        entries = [{"PartitionValueList": list(v), "PartitionInput": part_input(v)} for v in chunk]
        errors = glue.batch_update_partition(
            DatabaseName=database, TableName=table.name, Entries=entries
        ).get("Errors", [])
        _raise_on(errors, f"updating partitions of {table.name}")
    rep.partitions_updated = len(stale)
    rep.partitions_missing = ["/".join(v) for v in sorted(registered) if v not in scan.partitions]


def _raise_on(errors: Iterable[dict[str, Any]], doing: str) -> None:
    errors = list(errors)
    if errors:
        first = errors[0].get("ErrorDetail", {})
        raise SmartCityError(
            f"Glue refused {len(errors)} entries {doing}: {first.get('ErrorMessage', first)}"
        )
