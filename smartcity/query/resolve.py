"""Resolve the tables a query reads through the Glue Data Catalog, as Athena does.

Athena reads a table's registered partitions only (a folder nobody crawled is invisible), takes column
names and types from the catalog, and partition values from the partition entries. This module returns
exactly that, so the local engine sees what Athena would see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartcity.catalog.crawler import registered_partitions
from smartcity.errors import SmartCityError


@dataclass
class ResolvedTable:
    """A catalog table: where it lives, its columns, partition keys and registered partitions."""

    database: str
    name: str
    location: str
    columns: list[tuple[str, str]]
    partition_keys: list[str]
    partitions: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    @property
    def all_columns(self) -> list[tuple[str, str]]:
        """Data columns then partition keys (always ``string``), the order Athena shows them in."""
        return self.columns + [(k, "string") for k in self.partition_keys]


def resolve_tables(
    glue: Any, default_database: str, refs: list[tuple[str | None, str]]
) -> dict[tuple[str, str], ResolvedTable]:
    """``{(database, table): ResolvedTable}`` for every referenced table; unknown tables are an error."""
    out: dict[tuple[str, str], ResolvedTable] = {}
    for db, name in refs:
        database = db or default_database
        try:
            table = glue.get_table(DatabaseName=database, Name=name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            raise SmartCityError(
                f"table {database}.{name} is not in the Data Catalog (run 'smartcity crawl' first?)"
            ) from None
        sd = table["StorageDescriptor"]
        keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        resolved = ResolvedTable(
            database=database,
            name=name,
            location=sd["Location"],
            columns=[(c["Name"], c["Type"]) for c in sd.get("Columns", [])],
            partition_keys=keys,
        )
        if keys:
            parts = registered_partitions(glue, database, name)
            resolved.partitions = sorted((v, p["StorageDescriptor"]["Location"]) for v, p in parts.items())
        out[(database, name)] = resolved
    return out


def sqlglot_schema(tables: dict[tuple[str, str], ResolvedTable]) -> dict[str, dict[str, dict[str, str]]]:
    """The catalog's column types in sqlglot's schema shape, so division and casts are typed as in Athena."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for (db, name), t in tables.items():
        schema.setdefault(db, {})[name] = dict(t.all_columns)
    return schema
