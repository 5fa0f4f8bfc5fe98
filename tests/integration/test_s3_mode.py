"""The lake's S3 mode end to end: the streaming job on moto's S3 through S3A, then the crawler, the
warehouse load and the Athena engine reading the same bucket, reconciled as the demo does.

The job runs as ``smartcity stream --lake s3`` in a subprocess with the local stack's Kafka and moto; the
counts come from listing the bucket the way Athena does (``smartcity.demo.reconcile``), never from Spark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import pytest

from smartcity.catalog.crawler import crawl
from smartcity.catalog.lake_files import open_lake_files
from smartcity.config import Settings, Stream
from smartcity.demo.reconcile import reconcile
from smartcity.demo.reset import reset_topics, reset_warehouse
from smartcity.local import s3
from smartcity.query.engine import run_query
from smartcity.warehouse.loader import run_load
from smartcity.warehouse.migrate import migrate
from smartcity.warehouse.postgres import PostgresSession
from tests.integration.test_stream_job import Workload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_settings(stack) -> Settings:
    """The session's stack in S3 mode, with a bucket and a catalog database of this module's own."""
    local = stack.settings.local.model_copy(update={"data_bucket": f"smartcity-it-{uuid.uuid4().hex[:10]}"})
    settings = Settings(profile="local", lake="s3", local=local, catalog_database="smartcity_s3_mode")  # type: ignore[arg-type]
    s3.ensure_buckets(settings)
    return settings


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SMARTCITY_LOCAL__HOME": str(settings.local.home),
            "SMARTCITY_LOCAL__KAFKA_PORT": str(settings.local.kafka_port),
            "SMARTCITY_LOCAL__MOTO_PORT": str(settings.local.moto_port),
            "SMARTCITY_LOCAL__DATA_BUCKET": settings.local.data_bucket,
        }
    )
    return env


def _files_under(root: Path) -> set[Path]:
    """Every file below ``root`` (none when it does not exist)."""
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _stream_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "smartcity.cli", "stream", "--lake", "s3", *args]


def _drain(settings: Settings) -> None:
    done = subprocess.run(
        _stream_cmd("--available-now", "--max-offsets", "2000"),
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _step_metrics(settings: Settings) -> list[dict]:
    lake = open_lake_files(settings)
    files = sorted(lake.list_files(lake.fs_path("_metrics/stream")), key=lambda f: f.relative)
    out = []
    for f in files:
        with lake.fs.open_input_stream(f.fs_path) as fh:
            out.append(json.loads(fh.read()))
    return out


def _manifest(settings: Settings, work: Workload) -> dict:
    """The simulator manifest's shape, from this test's own producer."""
    vehicle = settings.topics.for_stream(Stream.VEHICLE)
    return {
        "topics": {
            topic: {
                "acknowledged": n,
                "distinct_valid_ids": len(work.valid_vehicle_ids) if topic == vehicle else 0,
            }
            for topic, n in work.produced.items()
        }
    }


@pytest.mark.timeout(3600)
def test_stream_then_crawl_load_and_query_on_s3(s3_settings):
    """One drain over several micro-batches: every step reads the state the one before it wrote to the
    bucket. A SIGKILL and restart are proven on the local lake (tests/integration/test_stream_job.py),
    the publish protocol's crash and replay on S3 in tests/unit/test_stream_sink_s3.py."""
    settings = s3_settings
    local_lake = settings.local.state_dir / "lake"  # other tests of the session may use the home's lake
    local_files_before = _files_under(local_lake)
    reset_topics(settings)
    work = Workload(settings, seed=3)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    work.run(start, seconds=40)
    work.run(start + timedelta(minutes=15), seconds=40)
    _drain(settings)

    steps = _step_metrics(settings)
    requests = [m["s3_requests"] for m in steps if not m["flush"]]
    assert len(requests) >= 2 and steps[-1]["flush"], [(m["batch_id"], m["flush"]) for m in steps]
    assert all(isinstance(n, int) and n > 0 for n in requests), requests
    print(f"S3 requests per step: median {median(requests)}, max {max(requests)} over {len(requests)} steps")
    assert _files_under(local_lake) == local_files_before, "S3 mode wrote to the lake on local disk"

    crawled = crawl(settings)
    assert {t.status for t in crawled.tables} == {"created"}, crawled.render()
    assert all(t.location.startswith(f"s3://{settings.local.data_bucket}/lake/") for t in crawled.tables)
    reset_warehouse(settings)
    with PostgresSession.open(settings.warehouse_dsn) as session:
        migrate(session, "postgres")
    load = run_load(settings)
    assert load.load_id is not None

    recon = reconcile(settings, [_manifest(settings, work)], steps[-1]["totals"])
    failed = [c for c in recon.checks if not c.ok]
    assert failed == [], failed
    enriched = next(c for c in recon.checks if c.stage == "enriched unique").left
    result = run_query(settings, "SELECT count(*) FROM vehicle_enriched")
    assert result.rows == [(enriched,)]
    assert all(files > 0 for files in result.files.values())
