"""The lake's Data Catalog: the local Glue crawler stand-in and the table names it owns.

``crawl(settings, tables=None) -> CrawlReport`` is the entry point used by ``smartcity crawl`` and by the
orchestration layer's local crawler stand-in.
"""

from smartcity.catalog.crawler import crawl
from smartcity.catalog.exclusions import CRAWLER_EXCLUSIONS
from smartcity.catalog.report import CrawlReport, TableReport
from smartcity.catalog.tables import LAKE_TABLES, LakeTable, table_names

__all__ = [
    "CRAWLER_EXCLUSIONS",
    "LAKE_TABLES",
    "CrawlReport",
    "LakeTable",
    "TableReport",
    "crawl",
    "table_names",
]
