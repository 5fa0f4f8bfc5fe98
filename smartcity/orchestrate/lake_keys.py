"""Which lake table (and partition) an S3 object belongs to, and which crawler covers it.

The lake layout is the product's public interface: ``raw/<stream>/``, ``enriched/vehicle_enriched/``
and ``quarantine/`` under the lake prefix, Hive partitions below. Spark's own bookkeeping
(``_spark_metadata``, ``_temporary``, ``.crc``, ``_SUCCESS``) never starts a crawl.

The table folders and the crawler names come from ``smartcity.lake_layout``. The skip rule is Athena's
hidden-file rule, stated here without ``smartcity.catalog`` (pyarrow, which the Lambda layer does not carry);
``tests/unit/test_orchestrate_lake_keys.py`` proves it agrees with the crawler exclusions.
Checkpoints live outside the table prefixes and are ignored because they match no table.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.lake_layout import TABLE_PATHS, crawler_name

__all__ = ["TABLE_PATHS", "LakeObject", "classify_key", "crawler_name", "is_not_data"]


def is_not_data(relative_path: str) -> bool:
    """Spark bookkeeping and hidden files: any path part starting with ``_`` or ``.`` (``_spark_metadata``,
    ``_temporary``, ``_SUCCESS``, ``.part-0.crc``, ``.spark-staging-*``), or a ``.crc`` checksum."""
    return relative_path.endswith(".crc") or any(p.startswith(("_", ".")) for p in relative_path.split("/"))


@dataclass(frozen=True)
class LakeObject:
    """A data file of a lake table: the table, its Hive partition path ('' when unpartitioned), the key."""

    table: str
    partition: str
    key: str


def classify_key(key: str, lake_prefix: str) -> LakeObject | None:
    """The table and partition of an object key, or None for anything that is not table data.

    None for: keys outside the lake prefix or outside every table, Spark metadata and temporary files
    (the crawler exclusions), hidden files (Athena skips names starting with ``_`` or ``.``), and folder
    placeholder keys ending in ``/``.
    """
    if not key.startswith(lake_prefix) or key.endswith("/"):
        return None
    rest = key[len(lake_prefix) :]
    for table in TABLE_PATHS:
        root = table + "/"
        if rest.startswith(root):
            relative = rest[len(root) :]
            if not relative or is_not_data(relative):
                return None
            folder, _, _name = relative.rpartition("/")
            return LakeObject(table=table, partition=folder, key=key)
    return None
