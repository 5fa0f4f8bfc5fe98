"""The one step of an S3 compaction a catalog reader can observe: a partition's location, changed in one call.

S3 has no atomic multi-object operation, but Athena, Glue jobs and this project's query engine and loader
find a partition's files through its Data Catalog location. ``UpdatePartition`` replaces the partition's
definition in one request: a query planned before it reads the old prefix, one planned after it the new.
"""

from __future__ import annotations

from typing import Any

# The fields of a GetPartition answer that PartitionInput accepts (the rest are read-only).
_PARTITION_INPUT_FIELDS = ("Values", "StorageDescriptor", "Parameters", "LastAccessTime", "LastAnalyzedTime")


def partition_location(glue: Any, database: str, table: str, values: list[str]) -> str | None:
    """The partition's current location, or None when the catalog has no such partition."""
    try:
        partition = glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=values)
    except glue.exceptions.EntityNotFoundException:
        return None
    return str(partition["Partition"]["StorageDescriptor"]["Location"])


def point_partition(glue: Any, database: str, table: str, values: list[str], location: str) -> None:
    """Point the partition at ``location``, keeping its columns, format and parameters as they are."""
    current = glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=values)["Partition"]
    partition_input = {k: current[k] for k in _PARTITION_INPUT_FIELDS if k in current}
    partition_input["StorageDescriptor"] = {**current["StorageDescriptor"], "Location": location}
    glue.update_partition(
        DatabaseName=database,
        TableName=table,
        PartitionValueList=values,
        PartitionInput=partition_input,
    )
