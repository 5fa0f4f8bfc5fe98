"""The lake's Data Catalog: the local Glue crawler stand-in and the table names it owns.

``crawl(settings, tables=None) -> CrawlReport`` is the entry point used by ``smartcity crawl`` and by the
orchestration layer's local crawler stand-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smartcity.catalog.exclusions import CRAWLER_EXCLUSIONS
from smartcity.catalog.report import CrawlReport, TableReport
from smartcity.catalog.tables import LAKE_TABLES, LakeTable, table_names

if TYPE_CHECKING:
    from smartcity.catalog.crawler import crawl

__all__ = [
    "CRAWLER_EXCLUSIONS",
    "LAKE_TABLES",
    "CrawlReport",
    "LakeTable",
    "TableReport",
    "crawl",
    "table_names",
]


def __getattr__(name: str) -> Any:
    """``crawl`` is imported on first use: the crawler brings boto3 and pyarrow, which the table names
    (read by the CLI's argument parser) do not need."""
    if name == "crawl":
        from smartcity.catalog.crawler import crawl

        return crawl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
