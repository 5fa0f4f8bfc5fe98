"""The orchestration's view of the lake agrees with the catalog's (it cannot import it: pyarrow)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smartcity.catalog.exclusions import is_excluded, is_hidden
from smartcity.orchestrate.lake_keys import classify_key, crawler_name, is_not_data

pytestmark = pytest.mark.unit

SAMPLES = [
    "dt=2024-05-01/hour=13/part-00000-1b2c.c000.snappy.parquet",
    "dt=2024-05-01/part-00000.parquet",
    "part-00000.parquet",
    "_spark_metadata/0",
    "_spark_metadata/12.compact",
    "dt=2024-05-01/hour=13/_SUCCESS",
    "dt=2024-05-01/hour=13/.part-00000.parquet.crc",
    "dt=2024-05-01/hour=13/part-00000.parquet.crc",
    "_temporary/0/_temporary/attempt_1/part-0.parquet",
    "dt=2024-05-01/_temporary/0/part-0.parquet",
    "dt=2024-05-01/.spark-staging-1/part-0.parquet",
    ".hidden",
]


@pytest.mark.parametrize("rel", SAMPLES)
def test_same_skip_rule_as_the_crawler_and_athena(rel: str) -> None:
    assert is_not_data(rel) == (is_excluded(rel) or is_hidden(rel))


def test_classify_key_table_and_partition() -> None:
    obj = classify_key("lake/raw/gps/dt=2024-05-01/hour=02/part-1.parquet", "lake/")
    assert obj and obj.table == "raw/gps" and obj.partition == "dt=2024-05-01/hour=02"
    assert classify_key("lake/quarantine/dt=2024-05-01/p.parquet", "lake/").table == "quarantine"  # type: ignore[union-attr]
    assert classify_key("lake/raw/gps/", "lake/") is None
    assert classify_key("raw/gps/dt=1/p.parquet", "lake/") is None
    assert crawler_name("smartcity-", "enriched/vehicle_enriched") == "smartcity-enriched-vehicle-enriched"


def test_orchestration_imports_without_heavy_dependencies() -> None:
    """What the Lambda layer ships must import without pyarrow, pyspark, duckdb or pandas."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        heavy = {'pyarrow', 'pyspark', 'duckdb', 'pandas', 'psycopg', 'confluent_kafka'}\n"
        "        if name.split('.')[0] in heavy:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import smartcity.orchestrate.service, smartcity.orchestrate.alerts\n"
        "import smartcity.orchestrate.custom_resource\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("lake", ["file", "s3"])
def test_the_demos_object_event_names_the_key_the_orchestrator_routes(lake: str, tmp_path) -> None:
    """The demo turns each lake file into an S3 event: in S3 mode the key must carry the lake's prefix
    inside the bucket, as S3 would send it, or no crawl ever starts."""
    from smartcity.config import Settings
    from smartcity.orchestrate.local import lake_config, object_created_event

    settings = Settings(profile="local", lake=lake, local={"home": tmp_path})  # type: ignore[arg-type]
    relative = "raw/vehicle/dt=2024-05-01/hour=10/part-0.parquet"
    event = object_created_event(settings, relative, 10)
    key = event["detail"]["object"]["key"]
    routed = classify_key(key, lake_config(settings).prefix)
    assert routed is not None and routed.table == "raw/vehicle"
    assert routed.partition == "dt=2024-05-01/hour=10"
    assert key.endswith(relative) and (key != relative) == (lake == "s3")
