"""The lake tables the catalog knows: public names, lake folders and the crawler that owns each.

The names are the product's public interface: Athena queries, Redshift loads and dashboards use
them, so they are declared once here and nowhere else. They are exactly what the AWS crawlers declared in
``template.yaml`` produce: one crawler per table whose S3 target is the table's root folder, so AWS names the
table after that folder (``vehicle``, ``vehicle_enriched``, ``quarantine``) and the raw crawlers add
``TablePrefix: raw_`` (→ ``raw_vehicle``). A single crawler over the lake root cannot do this: the raw tables
sit one level deeper than ``quarantine`` and ``TableLevelConfiguration`` is one absolute depth per crawler.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.config import Settings
from smartcity.errors import UsageError
from smartcity.lake_layout import TABLE_PATHS, crawler_name

RAW_TABLE_PREFIX = "raw_"


@dataclass(frozen=True)
class LakeTable:
    """One catalogued table: its public name, its folder under the lake root, and its crawler's prefix."""

    name: str
    path: str
    table_prefix: str = ""

    def crawler_name(self, settings: Settings) -> str:
        """The crawler that owns this table (e.g. ``smartcity-raw-vehicle``), as the template names it."""
        return crawler_name(settings.crawler_prefix, self.path)


def _table(path: str) -> LakeTable:
    """AWS names a table after its folder; raw crawlers add a prefix (``raw/vehicle`` → ``raw_vehicle``)."""
    prefix = RAW_TABLE_PREFIX if path.startswith("raw/") else ""
    return LakeTable(prefix + path.rsplit("/", 1)[-1], path, prefix)


LAKE_TABLES: tuple[LakeTable, ...] = tuple(_table(path) for path in TABLE_PATHS)


def table_names() -> list[str]:
    return [t.name for t in LAKE_TABLES]


def select_tables(names: list[str] | None) -> list[LakeTable]:
    """The tables to crawl: all by default; an unknown name is a usage error listing the known ones."""
    if not names:
        return list(LAKE_TABLES)
    by_name = {t.name: t for t in LAKE_TABLES}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UsageError(f"unknown table {', '.join(unknown)} (known: {', '.join(by_name)})")
    return [by_name[n] for n in names]
