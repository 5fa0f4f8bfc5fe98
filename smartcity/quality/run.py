"""Evaluate lake tables on the local stack's lake: the ``smartcity quality`` command, the local
orchestration after a crawl and the demo all go through ``evaluate_tables``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from smartcity.catalog.tables import LAKE_TABLES
from smartcity.config import Settings
from smartcity.errors import UsageError
from smartcity.quality.rules import RULESETS

if TYPE_CHECKING:
    from smartcity.quality.local import TableResult


def table_names() -> dict[str, str]:
    """Catalog table name → lake folder of every table with rules (AWS names a table after its folder)."""
    catalogued = {t.path: t.name for t in LAKE_TABLES}
    return {catalogued.get(path, path.rsplit("/", 1)[-1]): path for path in RULESETS}


def select(names: Sequence[str]) -> list[str]:
    """The lake folders of the named tables (all when none is named); an unknown name is a usage error."""
    known = table_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown table {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[n] for n in names] if names else list(known.values())


def evaluate_tables(
    settings: Settings, tables: Sequence[str], now: datetime | None = None
) -> list[TableResult]:
    """Evaluate each table folder's rules on the lake at ``now`` (the clock when not given)."""
    # Imported here, not at the top: DuckDB and the lake readers are slow to import, and the CLI's
    # argument parser needs only ``table_names``.
    from smartcity.catalog.lake_files import open_lake_files
    from smartcity.quality.local import evaluate_dataset, now_utc, table_dataset

    lake = open_lake_files(settings)
    when = now or now_utc()
    return [evaluate_dataset(table_dataset(lake, t), t, when) for t in tables]
