"""Glue Data Catalog inputs exactly as the AWS crawler writes them for Spark's Parquet folders.

Shapes follow a real ``GetTables`` answer for a crawler-made Parquet table (see docs/catalog.md): Hive's
Parquet SerDe and Mapred formats, ``classification=parquet``, ``compressionType=none`` (Parquet compresses
inside the file), ``typeOfData=file``, the crawler's serializer versions and its statistics
(``recordCount``, ``averageRecordSize``, ``objectCount``, ``sizeKey``) on both the table and its storage
descriptor, ``EXTERNAL_TABLE``, and ``string`` partition keys. Pure functions: no client here.
"""

from __future__ import annotations

from typing import Any

SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARTITION_KEY_TYPE = "string"


def crawler_parameters(crawler_name: str) -> dict[str, str]:
    """Parameters the crawler sets that do not depend on the data volume (also put on partitions)."""
    return {
        "classification": "parquet",
        "compressionType": "none",
        "typeOfData": "file",
        "UPDATED_BY_CRAWLER": crawler_name,
        "CrawlerSchemaSerializerVersion": "1.0",
        "CrawlerSchemaDeserializerVersion": "1.0",
    }


def table_parameters(crawler_name: str, *, records: int, size_bytes: int, objects: int) -> dict[str, str]:
    """Crawler parameters plus the statistics it computes over all catalogued files."""
    return {
        **crawler_parameters(crawler_name),
        "recordCount": str(records),
        "averageRecordSize": str(size_bytes // records if records else 0),
        "objectCount": str(objects),
        "sizeKey": str(size_bytes),
    }


def storage_descriptor(
    columns: list[tuple[str, str]], location: str, parameters: dict[str, str]
) -> dict[str, Any]:
    return {
        "Columns": [{"Name": n, "Type": t} for n, t in columns],
        "Location": location,
        "InputFormat": INPUT_FORMAT,
        "OutputFormat": OUTPUT_FORMAT,
        "Compressed": False,
        "NumberOfBuckets": -1,
        "SerdeInfo": {"SerializationLibrary": SERDE, "Parameters": {"serialization.format": "1"}},
        "BucketColumns": [],
        "SortColumns": [],
        "Parameters": dict(parameters),
        "StoredAsSubDirectories": False,
    }


def table_input(
    name: str,
    columns: list[tuple[str, str]],
    partition_keys: tuple[str, ...],
    location: str,
    parameters: dict[str, str],
) -> dict[str, Any]:
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": dict(parameters),
        "PartitionKeys": [{"Name": k, "Type": PARTITION_KEY_TYPE} for k in partition_keys],
        "StorageDescriptor": storage_descriptor(columns, location, parameters),
    }


def partition_input(
    values: tuple[str, ...], columns: list[tuple[str, str]], location: str, parameters: dict[str, str]
) -> dict[str, Any]:
    """A partition inherits the table's columns (crawler option ``InheritFromTable``)."""
    return {
        "Values": list(values),
        "StorageDescriptor": storage_descriptor(columns, location, parameters),
        "Parameters": dict(parameters),
    }


def columns_of(descriptor: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name, type)`` pairs of a StorageDescriptor as returned by GetTable/GetPartitions."""
    return [(c["Name"], c["Type"]) for c in descriptor.get("Columns", [])]


def comparable_table(table: dict[str, Any]) -> dict[str, Any]:
    """The part of a GetTable answer that the crawler manages, shaped like ``table_input`` for comparison."""
    sd = table.get("StorageDescriptor", {})
    serde = sd.get("SerdeInfo", {})
    return {
        "Name": table["Name"],
        "TableType": table.get("TableType"),
        "Parameters": dict(table.get("Parameters", {})),
        "PartitionKeys": [{"Name": k["Name"], "Type": k["Type"]} for k in table.get("PartitionKeys", [])],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in columns_of(sd)],
            "Location": sd.get("Location"),
            "InputFormat": sd.get("InputFormat"),
            "OutputFormat": sd.get("OutputFormat"),
            "Compressed": sd.get("Compressed", False),
            "NumberOfBuckets": sd.get("NumberOfBuckets", -1),
            "SerdeInfo": {
                "SerializationLibrary": serde.get("SerializationLibrary"),
                "Parameters": dict(serde.get("Parameters", {})),
            },
            "BucketColumns": list(sd.get("BucketColumns", [])),
            "SortColumns": list(sd.get("SortColumns", [])),
            "Parameters": dict(sd.get("Parameters", {})),
            "StoredAsSubDirectories": sd.get("StoredAsSubDirectories", False),
        },
    }
