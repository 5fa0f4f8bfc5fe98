"""The lake's layout: the folder of every table under the lake root, and the crawler that owns each folder.

Public interface: the streaming job writes these folders, the crawlers catalogue them, the orchestration
routes new files by them and the demo reconciles them. Named here once; this module imports nothing heavy,
so the Lambda layer, the Glue jobs and the CLI all share it.
"""

from __future__ import annotations

from smartcity.config import Stream

QUARANTINE_TABLE = "quarantine"
ENRICHED_TABLE = "enriched/vehicle_enriched"
# Flags raised by the streaming job's anomaly detectors (columns: smartcity.anomaly.rules.ANOMALY_COLUMNS).
ANOMALIES_TABLE = "anomalies"


def raw_table(stream: Stream) -> str:
    """The folder of a stream's raw table, e.g. ``raw/vehicle``."""
    return f"raw/{stream.value}"


# Every catalogued table's folder, in the catalog's order. No folder is a prefix of another.
TABLE_PATHS: tuple[str, ...] = (
    *(raw_table(s) for s in Stream),
    QUARANTINE_TABLE,
    ENRICHED_TABLE,
    ANOMALIES_TABLE,
)


def crawler_name(crawler_prefix: str, table_path: str) -> str:
    """The crawler of a table folder, as the template names it (``raw/vehicle`` → ``<prefix>raw-vehicle``)."""
    return crawler_prefix + table_path.replace("/", "-").replace("_", "-")
