"""moto (the local Glue Data Catalog) SIGKILLed in the middle of a crawl, then started again.

moto keeps the catalog in memory, so a restarted moto has none: "the next run completes and
reconciles" means the next crawl rebuilds every table and partition from the lake, the source of truth,
and queries through the rebuilt catalog count what the lake holds (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from smartcity.catalog import LAKE_TABLES, crawl
from smartcity.catalog.crawler import glue_client
from smartcity.errors import StackError
from smartcity.query import run_query
from testdata.synthetic_lake import write_synthetic_lake
from tests.integration.crash import sigkill

pytestmark = pytest.mark.integration


class _KillBefore:
    """The real Glue client, every call passed through; ``kill`` runs just before the ``nth`` call of
    ``operation``, so the crawl is certainly half done when the catalog dies."""

    def __init__(self, glue: Any, kill: Any, operation: str, nth: int) -> None:
        self._glue, self._kill, self._operation, self._nth = glue, kill, operation, nth
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._glue, name)
        if name != self._operation:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._nth:
                self._kill()
            return attr(*args, **kwargs)

        return call


def _vehicles(settings) -> int:
    return run_query(settings, "SELECT count(*) FROM raw_vehicle").rows[0][0]


def test_moto_killed_during_a_crawl_then_the_next_crawl_rebuilds_the_catalog(stack) -> None:
    settings = stack.settings.model_copy(update={"catalog_database": "smartcity_fault_crawl"})
    root = Path(urlparse(settings.lake_uri).path) / "fault-crawl"
    lake = write_synthetic_lake(root, vehicle_events=500, hours=2, devices=5)
    settings = settings.model_copy(update={"lake_uri": root.as_uri()})
    moto = stack.stack.component("moto")

    dying = _KillBefore(glue_client(settings), lambda: sigkill(moto), "create_table", nth=2)
    try:
        with pytest.raises(StackError, match=r"Glue Data Catalog at .* is unreachable") as caught:
            crawl(settings, glue=dying)
        assert dying.calls == 2 and "\n" not in str(caught.value)
    finally:
        stack.stack.up()  # what `smartcity up` does: starts what is not running (moto, empty)

    glue = boto3.client("glue", **settings.boto3_kwargs())
    assert glue.get_databases()["DatabaseList"] == [], "a restarted moto starts with no catalog"
    report = crawl(settings)
    assert {t.table for t in report.tables if t.status == "created"} == {t.name for t in LAKE_TABLES}
    for table in LAKE_TABLES:
        registered = glue.get_partitions(DatabaseName=settings.catalog_database, TableName=table.name)
        assert len(registered["Partitions"]) == report.table(table.name).partitions > 0, table.name
        assert report.table(table.name).records == lake.rows[table.name], table.name
    assert _vehicles(settings) == lake.rows["raw_vehicle"]
    assert crawl(settings).changes == 0
