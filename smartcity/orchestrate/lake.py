"""Which lake table (and partition) an S3 object belongs to, and which crawler covers it.

The lake layout is the product's public interface (issue 4): ``raw/<stream>/``, ``enriched/vehicle_enriched/``
and ``quarantine/`` under the lake prefix, Hive partitions below. Spark's own bookkeeping
(``_spark_metadata``, ``_temporary``, ``.crc``, ``_SUCCESS``) never starts a crawl.

Why not import ``smartcity.catalog``: that package reads Parquet with pyarrow, which the Lambda layer does
not carry (it would not fit beside the functions). The table folders and the skip rule are restated here
from ``smartcity.config.Stream`` and Athena's hidden-file rule, and ``tests/unit/test_orchestrate_lake.py``
proves they agree with ``smartcity.catalog.tables.LAKE_TABLES`` and the crawler exclusions.
Checkpoints live outside the table prefixes and are ignored because they match no table.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.config import Stream

# The lake folder of every catalogued table, in smartcity.catalog.tables' order. No folder is a prefix of
# another, so the first match is the only one.
LAKE_TABLES: tuple[str, ...] = (
    *(f"raw/{s.value}" for s in Stream),
    "quarantine",
    "enriched/vehicle_enriched",
)


def is_not_data(relative_path: str) -> bool:
    """Spark bookkeeping and hidden files: any path part starting with ``_`` or ``.`` (``_spark_metadata``,
    ``_temporary``, ``_SUCCESS``, ``.part-0.crc``, ``.spark-staging-*``), or a ``.crc`` checksum."""
    return relative_path.endswith(".crc") or any(p.startswith(("_", ".")) for p in relative_path.split("/"))


def crawler_name(crawler_prefix: str, table: str) -> str:
    """Crawler of a lake table; the same rule as ``Settings.crawler_name`` and the template's names."""
    return crawler_prefix + table.replace("/", "-").replace("_", "-")


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
    for table in LAKE_TABLES:
        root = table + "/"
        if rest.startswith(root):
            relative = rest[len(root) :]
            if not relative or is_not_data(relative):
                return None
            folder, _, _name = relative.rpartition("/")
            return LakeObject(table=table, partition=folder, key=key)
    return None
