"""Claims: a kill between a claim and its Start call delays the work by one reconcile period at most,
while a confirmed claim (the crawl or run really started) keeps its full lifetime; and only the end of
the claim's own crawl closes it, in whatever order and however often EventBridge delivers the ends.

The coordinators run against moto's DynamoDB and Glue with a clock the test moves; the "kill" is an
exception no handler code catches, raised where the Lambda runtime would stop the function.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

moto = pytest.importorskip("moto")
from moto import mock_aws  # noqa: E402
from moto.moto_api import state_manager  # noqa: E402

from smartcity.orchestrate.config import CoordinationConfig, LakeConfig  # noqa: E402
from smartcity.orchestrate.coordination import CoordinationTable  # noqa: E402
from smartcity.orchestrate.crawls import CrawlCoordinator  # noqa: E402
from smartcity.orchestrate.lake_keys import TABLE_PATHS, crawler_name  # noqa: E402
from smartcity.orchestrate.loads import LoadCoordinator  # noqa: E402

pytestmark = pytest.mark.unit

REGION = "us-east-1"
TABLE = "claims-test"
PREFIX = "smartcity-"
LOAD_JOB = "smartcity-redshift-load"
CRAWLER = crawler_name(PREFIX, "raw/vehicle")
RECONCILE_PERIOD_S = 15 * 60  # the GlueStateFunction's schedule, rate(15 minutes)
T0 = 1_767_225_600.0


class Killed(BaseException):
    """The Lambda runtime stopping the function (timeout, out of memory): no ``except Exception`` sees it."""


class ManualClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, CoordinationTable]]:
    for k, v in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(k, v)
    for model in ("glue::crawl", "glue::job_run"):
        state_manager.set_transition(model_name=model, transition={"progression": "manual", "times": 10**9})
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        glue = boto3.client("glue", region_name=REGION)
        for table in TABLE_PATHS:
            glue.create_crawler(
                Name=crawler_name(PREFIX, table),
                Role="crawler-role",
                DatabaseName="smartcity_dev",
                Targets={"S3Targets": [{"Path": f"s3://lake/{table}/"}]},
            )
        glue.create_job(
            Name=LOAD_JOB,
            Role="load-role",
            ExecutionProperty={"MaxConcurrentRuns": 1},
            Command={"Name": "glueetl", "ScriptLocation": "s3://lake/job.py"},
        )
        yield glue, CoordinationTable(ddb, TABLE)
    for model in ("glue::crawl", "glue::job_run"):
        state_manager.unset_transition(model)


def _crawls(glue: Any, store: CoordinationTable, clock: ManualClock) -> CrawlCoordinator:
    config = CoordinationConfig(state_table=TABLE, load_job_name=LOAD_JOB)
    return CrawlCoordinator(glue, store, LakeConfig("lake", "", PREFIX), config, clock)


def _crawl_count(glue: Any) -> int:
    return len(glue.list_crawls(CrawlerName=CRAWLER)["Crawls"])


def _kill(*_args: Any, **_kwargs: Any) -> Any:
    raise Killed


def test_kill_between_crawl_claim_and_start_crawler_delays_the_crawl_one_reconcile_period(
    aws: tuple[Any, CoordinationTable], monkeypatch: pytest.MonkeyPatch
) -> None:
    glue, store = aws
    clock = ManualClock()
    crawls = _crawls(glue, store, clock)
    with monkeypatch.context() as m:
        m.setattr(glue, "start_crawler", _kill)
        with pytest.raises(Killed):
            crawls.on_object_created("lake", "raw/vehicle/dt=2024-05-01/hour=13/part-0.parquet")
    assert store.crawl(CRAWLER).inflight_claim == T0 and _crawl_count(glue) == 0
    clock.now = T0 + 60  # the holder may still be running (the functions' timeout): its claim holds
    assert crawls.reconcile().skipped == {CRAWLER: "crawl in flight"}
    clock.now = T0 + RECONCILE_PERIOD_S  # a reconcile tick one period later takes it over
    assert crawls.reconcile().started == [CRAWLER]
    assert _crawl_count(glue) == 1


def test_a_started_crawl_keeps_its_claim_past_a_reconcile_period(aws: tuple[Any, CoordinationTable]) -> None:
    glue, store = aws
    clock = ManualClock()
    crawls = _crawls(glue, store, clock)
    assert crawls.on_object_created("lake", "raw/vehicle/dt=2024-05-01/hour=13/part-0.parquet").started
    crawls.on_object_created("lake", "raw/vehicle/dt=2024-05-01/hour=14/part-0.parquet")  # owed during it
    clock.now = T0 + RECONCILE_PERIOD_S
    out = crawls.reconcile()
    assert out.started == [] and out.skipped == {CRAWLER: "crawl in flight"}
    assert _crawl_count(glue) == 1


def test_kill_between_load_claim_and_start_job_run_delays_the_load_one_reconcile_period(
    aws: tuple[Any, CoordinationTable], monkeypatch: pytest.MonkeyPatch
) -> None:
    glue, store = aws
    clock = ManualClock()
    loads = LoadCoordinator(glue, store, CoordinationConfig(state_table=TABLE, load_job_name=LOAD_JOB), clock)
    with monkeypatch.context() as m:
        m.setattr(glue, "start_job_run", _kill)
        with pytest.raises(Killed):
            loads.on_enriched_crawled("enriched-crawl-1")
    assert store.load(LOAD_JOB).run_claim == T0
    clock.now = T0 + 60
    assert loads.reconcile().loads_deferred == [LOAD_JOB]
    clock.now = T0 + RECONCILE_PERIOD_S
    assert len(loads.reconcile().loads_started) == 1
    assert len(glue.get_job_runs(JobName=LOAD_JOB)["JobRuns"]) == 1


def test_a_started_load_keeps_its_claim_past_a_reconcile_period(aws: tuple[Any, CoordinationTable]) -> None:
    glue, store = aws
    clock = ManualClock()
    loads = LoadCoordinator(glue, store, CoordinationConfig(state_table=TABLE, load_job_name=LOAD_JOB), clock)
    assert len(loads.on_enriched_crawled("enriched-crawl-1").loads_started) == 1
    loads.on_enriched_crawled("enriched-crawl-2")  # owed while the first run goes
    clock.now = T0 + RECONCILE_PERIOD_S
    assert loads.reconcile().loads_deferred == [LOAD_JOB]
    assert len(glue.get_job_runs(JobName=LOAD_JOB)["JobRuns"]) == 1


def _at(offset_s: float) -> datetime:
    """A crawl end stamped by Glue: whole seconds."""
    return datetime.fromtimestamp(int(T0 + offset_s), UTC)


def test_only_an_end_newer_than_the_claims_predecessor_closes_it_whatever_the_delivery_order(
    aws: tuple[Any, CoordinationTable],
) -> None:
    glue, store = aws
    clock = ManualClock()
    crawls = _crawls(glue, store, clock)
    crawls.on_object_created("lake", "raw/vehicle/dt=2024-05-01/hour=13/part-0.parquet")  # crawl 1
    crawls.on_object_created("lake", "raw/vehicle/dt=2024-05-01/hour=14/part-0.parquet")  # owed during it
    glue.stop_crawler(Name=CRAWLER)
    clock.now = T0 + 90.2
    assert crawls.on_crawl_finished(CRAWLER, True, _at(90)).started == [CRAWLER]  # crawl 2, same second
    claim = store.crawl(CRAWLER)
    for late in (_at(90), _at(60)):  # crawl 1's end delivered again; an older crawl's end delivered late
        out = crawls.on_crawl_finished(CRAWLER, False, late)
        assert out.skipped == {CRAWLER: "end of an earlier crawl than the one in flight"}
        assert store.crawl(CRAWLER) == claim
    glue.stop_crawler(Name=CRAWLER)
    clock.now = T0 + 200
    assert crawls.on_crawl_finished(CRAWLER, True, _at(190)).started == []  # crawl 2's own end
    record = store.crawl(CRAWLER)
    assert record.inflight_claim is None and not record.owed and record.last_end == int(T0 + 190)
    out = crawls.on_crawl_finished(CRAWLER, False, _at(90))  # crawl 1's failure, delivered last
    assert store.crawl(CRAWLER) == record and out.started == []
