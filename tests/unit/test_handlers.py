"""The orchestration Lambda handlers against moto: every file in events/, bursts, duplicates, malformed input.

Effects are read back from moto's Glue, DynamoDB and SNS state (crawls started, job runs, messages), not
from mocks of our own code. moto's crawls and job runs are pinned RUNNING until a test ends them, which is
what AWS does while a crawl or load takes minutes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

moto = pytest.importorskip("moto")
from moto import mock_aws  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.glue.models import glue_backends  # noqa: E402
from moto.moto_api import state_manager  # noqa: E402

from smartcity.orchestrate import custom_resource  # noqa: E402
from smartcity.orchestrate.alerts import (  # noqa: E402
    DIMENSION_KIND,
    METRIC_ALERTS_PUBLISHED,
    METRIC_CRAWLER_FAILURES,
    METRIC_ETL_FAILURES,
    AlertKind,
)
from smartcity.orchestrate.coordination import CoordinationTable, CrawlRecord  # noqa: E402
from smartcity.orchestrate.events import METRIC_MALFORMED_EVENTS  # noqa: E402
from smartcity.orchestrate.lake_keys import TABLE_PATHS, crawler_name  # noqa: E402
from tests.sizes import SIZES  # noqa: E402

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
REGION = "us-east-1"
BUCKET = f"smartcity-dev-{DEFAULT_ACCOUNT_ID}-us-east-1"  # moto's account, as the stack names it
PREFIX = "smartcity-"
LOAD_JOB = "smartcity-redshift-load"
STREAMING_JOB = "smartcity-streaming"
TABLE = "smartcity-orchestration-test"


@dataclass
class Context:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{DEFAULT_ACCOUNT_ID}:function:test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _load(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name (every function's module is ``app``)."""
    spec = importlib.util.spec_from_file_location(f"fn_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def event(name: str, **detail: Any) -> dict[str, Any]:
    ev = json.loads((EVENTS / name).read_text())
    ev["detail"].update(detail)
    return ev


def now_stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))


def object_event(key: str, event_id: str) -> dict[str, Any]:
    ev = event("object-created.json")
    ev["id"] = event_id
    ev["detail"]["object"]["key"] = key
    return ev


class World:
    """moto's AWS with the stack's resources, and the handlers wired to it.

    Built once per module (boto3 clients and the handlers' modules take most of a test's time to make);
    each test gets the resources fresh (``begin``) and they go when it ends (``end``).
    """

    def __init__(self, alert_queue: str) -> None:
        self.alert_queue = alert_queue
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.glue = boto3.client("glue", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.new_files = _load("new_lake_files")
        self.glue_state = _load("glue_state")
        self.alerts = _load("failure_alert")
        self.last_end = 0

    def create_resources(self) -> None:
        """The state table, a crawler per lake table and the load job, as the stack creates them."""
        self.ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for table in TABLE_PATHS:
            self.glue.create_crawler(
                Name=crawler_name(PREFIX, table),
                Role="crawler-role",
                DatabaseName="smartcity_dev",
                Targets={"S3Targets": [{"Path": f"s3://{BUCKET}/lake/{table}/"}]},
            )
        self.glue.create_job(
            Name=LOAD_JOB,
            Role="load-role",
            ExecutionProperty={"MaxConcurrentRuns": 1},
            Command={"Name": "glueetl", "ScriptLocation": f"s3://{BUCKET}/artifacts/job.py"},
        )

    def begin(self) -> None:
        """A test's fresh start: the stack's resources, handler dependencies rebuilt from the environment
        (a test may change it)."""
        self.create_resources()
        for cached in (self.new_files._crawls, self.glue_state._orchestrator, self.alerts._deps):
            cached.cache_clear()
        self.last_end = 0

    def end(self) -> None:
        """Remove what a test made (state records, crawls, job runs, alerts, buckets) with the resources, so
        the next test, or a test of this module with its own moto, starts from nothing."""
        self.ddb.delete_table(TableName=TABLE)
        for table in TABLE_PATHS:
            self.glue.delete_crawler(Name=crawler_name(PREFIX, table))
        self.glue.delete_job(JobName=LOAD_JOB)
        for bucket in self.s3.list_buckets()["Buckets"]:
            for obj in self.s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
                self.s3.delete_object(Bucket=bucket["Name"], Key=obj["Key"])
            self.s3.delete_bucket(Bucket=bucket["Name"])
        while self.alert_messages():  # PurgeQueue is allowed once a minute
            pass

    def crawls(self, table: str) -> int:
        return len(glue_backends[DEFAULT_ACCOUNT_ID][REGION].crawlers[crawler_name(PREFIX, table)].crawls)

    def end_crawl(self, table: str) -> None:
        glue_backends[DEFAULT_ACCOUNT_ID][REGION].crawlers[crawler_name(PREFIX, table)].crawls[
            -1
        ].status = "COMPLETED"

    def runs(self) -> list[Any]:
        return glue_backends[DEFAULT_ACCOUNT_ID][REGION].jobs[LOAD_JOB].job_runs

    def end_run(self, state: str = "SUCCEEDED") -> str:
        run = self.runs()[-1]
        run.status = state
        return run.job_run_id

    def next_crawl_end(self) -> str:
        """A crawl's ``completionDate``: Glue stamps it to the second, and consecutive crawls of a crawler
        end seconds apart at least (a crawl takes that long)."""
        self.last_end = max(int(time.time()) + 1, self.last_end + 1)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_end))

    def crawl_finished(
        self, table: str, state: str = "Succeeded", event_id: str | None = None
    ) -> dict[str, Any]:
        self.end_crawl(table)
        ev = event(
            "crawler-succeeded.json",
            crawlerName=crawler_name(PREFIX, table),
            state=state,
            completionDate=self.next_crawl_end(),
        )
        ev["id"] = event_id or f"crawl-end-{time.time_ns()}"
        return self.glue_state.handler(ev, Context())

    def crawl_record(self, table: str) -> CrawlRecord:
        return CoordinationTable(self.ddb, TABLE).crawl(crawler_name(PREFIX, table))

    def load_finished(self, run_id: str, state: str = "SUCCEEDED") -> dict[str, Any]:
        ev = event("job-load-succeeded.json", jobRunId=run_id, state=state)
        ev["id"] = f"load-end-{time.time_ns()}"
        return self.glue_state.handler(ev, Context())

    def alert_messages(self) -> list[dict[str, Any]]:
        """The alerts published since the last call (read and deleted from the inbox)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.alert_queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if messages:
            self.sqs.delete_message_batch(
                QueueUrl=self.alert_queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture(scope="module")
def built_world() -> Iterator[World]:
    """The world, built once for the module: moto stays started, the clients and handlers are kept."""
    with pytest.MonkeyPatch.context() as env:
        for k, v in {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_METRICS_NAMESPACE": "SmartCity/test",
            "POWERTOOLS_SERVICE_NAME": "test",
            "LAKE_BUCKET": BUCKET,
            "LAKE_PREFIX": "lake/",
            "CRAWLER_PREFIX": PREFIX,
            "STATE_TABLE": TABLE,
            "LOAD_JOB_NAME": LOAD_JOB,
            "STREAMING_JOB_NAME": STREAMING_JOB,
            "ENRICHED_TABLE": "enriched/vehicle_enriched",
        }.items():
            env.setenv(k, v)
        state_manager.set_transition(
            model_name="glue::crawl", transition={"progression": "manual", "times": 10**9}
        )
        state_manager.set_transition(
            model_name="glue::job_run", transition={"progression": "manual", "times": 10**9}
        )
        with mock_aws():
            sns = boto3.client("sns", region_name=REGION)
            topic = sns.create_topic(Name="alerts")["TopicArn"]
            sqs = boto3.client("sqs", region_name=REGION)
            queue = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
            sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=attributes["QueueArn"],
                Attributes={"RawMessageDelivery": "false"},
            )
            env.setenv("ALERT_TOPIC_ARN", topic)
            yield World(queue)
        state_manager.unset_transition("glue::crawl")
        state_manager.unset_transition("glue::job_run")


@pytest.fixture
def world(built_world: World) -> Iterator[World]:
    built_world.begin()
    yield built_world
    built_world.end()


# -- new lake files ------------------------------------------------------------------------------------


def test_object_created_starts_the_crawler_of_its_table(world: World) -> None:
    out = world.new_files.handler(event("object-created.json"), Context())
    assert out["started"] == ["smartcity-raw-vehicle"]
    assert world.crawls("raw/vehicle") == 1
    assert sum(world.crawls(t) for t in TABLE_PATHS) == 1


def test_enriched_file_starts_the_enriched_crawler(world: World) -> None:
    out = world.new_files.handler(event("object-created-enriched.json"), Context())
    assert out["started"] == ["smartcity-enriched-vehicle-enriched"]


def test_spark_metadata_and_foreign_keys_start_nothing(world: World) -> None:
    out = world.new_files.handler(event("object-created-spark-metadata.json"), Context())
    assert out["started"] == [] and out["skipped"]
    for key in [
        "lake/raw/vehicle/dt=2024-05-01/hour=13/_SUCCESS",
        "lake/raw/vehicle/dt=2024-05-01/hour=13/.part-0.snappy.parquet.crc",
        "lake/raw/vehicle/_temporary/0/_temporary/attempt_1/part-0.parquet",
        "checkpoints/streaming/offsets/12",
        "artifacts/glue/smartcity-abc.zip",
        "lake/unknown_table/dt=2024-05-01/part-0.parquet",
    ]:
        assert world.new_files.handler(object_event(key, key), Context())["started"] == []
    assert sum(world.crawls(t) for t in TABLE_PATHS) == 0


def test_key_too_long_for_a_partition_marker_is_counted_as_malformed_not_raised(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # DynamoDB keys are at most 2,048 bytes; this partition path alone is longer (multi-byte characters).
    partition = "/".join(f"p{i}={'é' * 40}" for i in range(30))
    key = f"lake/raw/vehicle/{partition}/part-0.parquet"
    out = world.new_files.handler(object_event(key, "long-key"), Context())
    assert out["status"] == "malformed"
    assert sum(world.crawls(t) for t in TABLE_PATHS) == 0
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get(METRIC_MALFORMED_EVENTS) == [1.0] for m in emf)
    [logged] = [r for r in caplog.records if r.getMessage() == "malformed event ignored"]
    assert key.startswith(logged.key_prefix) and len(logged.key_prefix) < len(key)  # type: ignore[attr-defined]
    # The rest of the table still works: a normal file of the same table starts its crawl.
    assert world.new_files.handler(event("object-created.json"), Context())["started"] == [
        "smartcity-raw-vehicle"
    ]


def test_duplicate_delivery_starts_one_crawl(world: World) -> None:
    ev = event("object-created.json")
    world.new_files.handler(ev, Context())
    world.end_crawl("raw/vehicle")  # even after the crawl ended, the same event owes nothing new
    again = world.new_files.handler(ev, Context())
    assert again["started"] == []
    assert world.crawls("raw/vehicle") == 1


def test_a_burst_of_objects_during_a_crawl_needs_exactly_one_more_crawl(world: World) -> None:
    first = "lake/raw/vehicle/dt=2024-05-01/hour=13/part-00000.parquet"
    assert world.new_files.handler(object_event(first, "e-first"), Context())["started"] == [
        "smartcity-raw-vehicle"
    ]
    for i in range(SIZES.object_burst):  # two new partitions and the known one, plus Spark metadata noise
        hour = (13, 14, 15)[i % 3]
        key = (
            f"lake/raw/vehicle/_spark_metadata/{i}"
            if i % 10 == 0
            else f"lake/raw/vehicle/dt=2024-05-01/hour={hour}/part-{i:05d}.parquet"
        )
        assert world.new_files.handler(object_event(key, f"e-{i}"), Context())["started"] == []
    assert world.crawls("raw/vehicle") == 1  # no StartCrawler attempted while the crawl runs
    out = world.crawl_finished("raw/vehicle")
    assert out["started"] == ["smartcity-raw-vehicle"]  # files that landed during the crawl: one more
    assert world.crawls("raw/vehicle") == 2
    out = world.crawl_finished("raw/vehicle")
    assert out["started"] == []  # everything covered: the chain stops
    assert world.crawls("raw/vehicle") == 2
    # More files in the already catalogued partitions need no crawl (Athena lists files at query time).
    for i in range(50):
        world.new_files.handler(
            object_event(f"lake/raw/vehicle/dt=2024-05-01/hour=14/late-{i}.parquet", f"late-{i}"), Context()
        )
    assert world.crawls("raw/vehicle") == 2
    assert sum(world.crawls(t) for t in TABLE_PATHS) == 2


def test_crawler_already_running_elsewhere_is_success_and_followed_by_a_crawl(world: World) -> None:
    world.glue.start_crawler(Name="smartcity-raw-vehicle")  # e.g. started from the console
    out = world.new_files.handler(event("object-created.json"), Context())
    assert out["started"] == [] and world.crawls("raw/vehicle") == 1
    out = world.crawl_finished("raw/vehicle")  # that run may have listed before our file: crawl again
    assert out["started"] == ["smartcity-raw-vehicle"] and world.crawls("raw/vehicle") == 2


def test_failed_crawl_is_retried_by_reconcile_not_at_once(world: World) -> None:
    world.new_files.handler(event("object-created.json"), Context())
    out = world.crawl_finished("raw/vehicle", state="Failed")
    assert out["started"] == [] and world.crawls("raw/vehicle") == 1
    out = world.glue_state.handler(event_file("reconcile-scheduled.json"), Context())
    assert out["started"] == ["smartcity-raw-vehicle"] and world.crawls("raw/vehicle") == 2


def test_lost_finish_event_is_recovered_by_reconcile_after_the_stale_period(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STALE_AFTER_S", "0.5")
    world.glue_state._orchestrator.cache_clear()
    world.new_files.handler(event("object-created.json"), Context())
    world.new_files.handler(object_event("lake/raw/vehicle/dt=2024-05-01/hour=20/p.parquet", "x"), Context())
    world.end_crawl("raw/vehicle")  # its Succeeded event is lost
    time.sleep(0.6)
    out = world.glue_state.handler(event_file("reconcile-scheduled.json"), Context())
    assert out["started"] == ["smartcity-raw-vehicle"]


def test_duplicate_finish_event_in_the_second_of_the_restart_does_not_close_the_new_claim(
    world: World,
) -> None:
    world.new_files.handler(event("object-created.json"), Context())
    world.new_files.handler(object_event("lake/raw/vehicle/dt=2024-05-01/hour=22/p.parquet", "z"), Context())
    world.end_crawl("raw/vehicle")
    # completionDate has whole-second resolution: the restart's claim falls within a second of it.
    end = event("crawler-succeeded.json", completionDate=world.next_crawl_end())
    end["id"] = "crawl-1-succeeded"
    assert world.glue_state.handler(end, Context())["started"] == ["smartcity-raw-vehicle"]
    restarted = world.crawl_record("raw/vehicle")
    assert restarted.inflight_claim is not None and restarted.owed
    again = world.glue_state.handler(end, Context())  # EventBridge delivers at least once
    assert again["started"] == [] and world.crawls("raw/vehicle") == 2
    assert world.crawl_record("raw/vehicle") == restarted  # the new claim is still open, nothing covered
    out = world.crawl_finished("raw/vehicle")  # the new crawl's own end closes it and covers everything
    assert out["started"] == [] and not world.crawl_record("raw/vehicle").owed


def test_stale_duplicate_finish_event_does_not_close_the_next_crawl(world: World) -> None:
    world.new_files.handler(event("object-created.json"), Context())
    world.new_files.handler(object_event("lake/raw/vehicle/dt=2024-05-01/hour=21/p.parquet", "y"), Context())
    world.end_crawl("raw/vehicle")
    old = event("crawler-succeeded.json", completionDate="2024-05-01T00:00:00Z")  # long before any claim
    assert world.glue_state.handler(old, Context())["started"] == []
    assert world.crawls("raw/vehicle") == 1


# -- loads -----------------------------------------------------------------------------------------------


def test_enriched_crawl_starts_one_load_and_queues_the_next(world: World) -> None:
    out = world.glue_state.handler(event("crawler-succeeded-enriched.json"), Context())
    assert len(out["loads_started"]) == 1 and len(world.runs()) == 1
    assert world.runs()[0].arguments is not None
    # duplicate delivery of the same event: nothing owed twice
    assert (
        world.glue_state.handler(event("crawler-succeeded-enriched.json"), Context())["loads_started"] == []
    )
    second = event("crawler-succeeded-enriched.json", completionDate=now_stamp())
    second["id"] = "enriched-2"
    out = world.glue_state.handler(second, Context())
    assert out["loads_started"] == [] and out["loads_deferred"] == [LOAD_JOB]  # never two runs at once
    assert len(world.runs()) == 1
    run_id = world.end_run("SUCCEEDED")
    out = world.load_finished(run_id)
    assert len(out["loads_started"]) == 1 and len(world.runs()) == 2  # the deferred load is not lost
    out = world.load_finished(world.end_run("SUCCEEDED"))
    assert out["loads_started"] == [] and len(world.runs()) == 2


def test_concurrent_runs_exceeded_is_deferred_until_that_run_ends(world: World) -> None:
    external = world.glue.start_job_run(JobName=LOAD_JOB)["JobRunId"]
    out = world.glue_state.handler(event("crawler-succeeded-enriched.json"), Context())
    assert out["loads_started"] == [] and out["loads_deferred"] == [LOAD_JOB] and len(world.runs()) == 1
    world.end_run("SUCCEEDED")
    out = world.load_finished(external)
    assert len(out["loads_started"]) == 1 and len(world.runs()) == 2


def test_failed_load_is_not_restarted_at_once_but_by_reconcile(world: World) -> None:
    world.glue_state.handler(event("crawler-succeeded-enriched.json"), Context())
    second = event("crawler-succeeded-enriched.json")
    second["id"] = "enriched-again"
    world.glue_state.handler(second, Context())
    out = world.load_finished(world.end_run("FAILED"), state="FAILED")
    assert out["loads_started"] == [] and len(world.runs()) == 1
    out = world.glue_state.handler(event_file("reconcile-scheduled.json"), Context())
    assert len(out["loads_started"]) == 1


# -- alerts ------------------------------------------------------------------------------------------------


def test_crawler_failure_alert_says_what_when_and_where(world: World) -> None:
    out = world.alerts.handler(event("crawler-failed.json"), Context())
    assert out["status"] == "alerted"
    [msg] = world.alert_messages()
    assert msg["Subject"] == "[smartcity] crawler smartcity-quarantine Failed"
    body = msg["Message"]
    assert "When: 2024-05-01T13:10:08Z" in body and "Internal Service Exception" in body
    assert "/aws-glue/crawlers" in body


def test_duplicate_failure_event_alerts_once(world: World) -> None:
    world.alerts.handler(event("job-load-failed.json"), Context())
    world.alerts.handler(event("job-load-failed.json"), Context())
    msgs = world.alert_messages()
    assert len(msgs) == 1
    assert "jr_ca2144d747b45ad412d3c66a1b6934b6b27aa252be9a21a95c54dfaa224a1925" in msgs[0]["Message"]
    assert "aws-glue$252Fjobs$252Ferror" in msgs[0]["Message"]


def test_streaming_job_stop_alerts_and_load_success_does_not(world: World) -> None:
    assert world.alerts.handler(event("job-streaming-stopped.json"), Context())["status"] == "alerted"
    assert world.alerts.handler(event("job-load-succeeded.json"), Context())["status"] == "no-alert"
    [msg] = world.alert_messages()
    assert msg["Subject"].startswith("[smartcity] streaming-job smartcity-streaming STOPPED")


def _emf(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, dict[str, str], float]]:
    """(metric name, dimensions, value) of every metric the handlers printed in EMF."""
    out = []
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dims = {d: blob[d] for d in directive["Dimensions"][0]}
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                out.append((metric["Name"], dims, float(sum(value) if isinstance(value, list) else value)))
    return out


@pytest.mark.parametrize(
    ("name", "kind", "failure_metric"),
    [
        ("job-load-failed.json", AlertKind.JOB, METRIC_ETL_FAILURES),
        ("job-load-stopped.json", AlertKind.JOB, METRIC_ETL_FAILURES),
        ("job-streaming-stopped.json", AlertKind.STREAMING_JOB, METRIC_ETL_FAILURES),
        ("crawler-failed.json", AlertKind.CRAWLER, METRIC_CRAWLER_FAILURES),
    ],
)
def test_each_alert_emits_its_kind_and_its_failure_metric_once(
    world: World, capsys: pytest.CaptureFixture[str], name: str, kind: str, failure_metric: str
) -> None:
    assert world.alerts.handler(event_file(name), Context())["status"] == "alerted"
    service = {"service": "test"}  # POWERTOOLS_SERVICE_NAME; the template sets failure-alert
    emitted = _emf(capsys)
    assert (METRIC_ALERTS_PUBLISHED, {**service, DIMENSION_KIND: kind}, 1.0) in emitted
    assert (failure_metric, service, 1.0) in emitted  # one metric per alarm, no dimension to get wrong
    assert world.alerts.handler(event_file(name), Context())["status"] == "duplicate"
    assert _emf(capsys) == []  # a duplicate delivery counts nothing


def test_a_load_success_emits_no_failure(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert world.alerts.handler(event_file("job-load-succeeded.json"), Context())["status"] == "no-alert"
    assert _emf(capsys) == []


SNS_MESSAGE_MAX_BYTES = 262_144  # SNS Publish refuses a larger message


@pytest.mark.parametrize(
    "reason",
    ["Traceback (most recent call last): " + "x" * 200_000, "Fehler: " + "é" * 150_000],
    ids=["ascii", "utf8"],
)
def test_a_long_failure_message_is_truncated_once_and_the_alert_published(world: World, reason: str) -> None:
    out = world.alerts.handler(event("job-load-failed.json", message=reason), Context())
    assert out["status"] == "alerted"
    [msg] = world.alert_messages()
    body = msg["Message"]
    assert len(body.encode("utf-8")) <= SNS_MESSAGE_MAX_BYTES
    assert body.count(reason.split(":")[0] + ":") == 1  # the reason is written once
    assert body.count("[truncated") == 1 and "see the logs" in body
    fields = json.loads(body.rsplit("\n", 1)[-1])  # the structured fields close the message
    assert fields["run_id"] == "jr_ca2144d747b45ad412d3c66a1b6934b6b27aa252be9a21a95c54dfaa224a1925"
    assert fields["kind"] == "job" and fields["state"] == "FAILED" and "aws-glue" in fields["logs_url"]
    assert fields["message_chars"] == len(reason)


def test_alert_subject_is_one_line_within_sns_limits(world: World) -> None:
    ev = event("crawler-failed.json", crawlerName="smartcity-\nq\t" + "q" * 300)
    world.alerts.handler(ev, Context())
    [msg] = world.alert_messages()
    assert len(msg["Subject"]) <= 100 and msg["Subject"].isprintable()


def test_alert_is_published_when_the_function_died_between_marker_and_publish(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Killed(BaseException):
        """The Lambda runtime stopping the function (timeout): no ``except Exception`` sees it."""

    sns = world.alerts._deps()[0]
    real_publish = sns.publish

    def killed(**_kwargs: Any) -> Any:
        raise Killed

    monkeypatch.setattr(sns, "publish", killed)
    with pytest.raises(Killed):
        world.alerts.handler(event("job-load-failed.json"), Context())
    monkeypatch.setattr(sns, "publish", real_publish)
    assert world.alerts.handler(event("job-load-failed.json"), Context())["status"] == "alerted"  # the retry
    assert len(world.alert_messages()) == 1
    assert world.alerts.handler(event("job-load-failed.json"), Context())["status"] == "duplicate"
    assert world.alert_messages() == []


# -- malformed ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["new_lake_files", "glue_state", "failure_alert"])
@pytest.mark.parametrize("bad", ["malformed-object-created.json", "{}", "not-json-object"])
def test_malformed_event_is_counted_not_raised(
    world: World, fn: str, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = {"new_lake_files": world.new_files, "glue_state": world.glue_state, "failure_alert": world.alerts}[
        fn
    ]
    payload: Any = event_file(bad) if bad.endswith(".json") else ({} if bad == "{}" else bad)
    out = mod.handler(payload, Context())
    assert out == {"status": "malformed"}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get(METRIC_MALFORMED_EVENTS) == [1.0] for m in emf)


@pytest.mark.parametrize("fn", ["glue_state", "failure_alert"])
def test_event_id_too_long_for_a_marker_is_malformed(world: World, fn: str) -> None:
    ev = event_file("crawler-failed.json" if fn == "failure_alert" else "crawler-succeeded-enriched.json")
    ev["id"] = "x" * 3000  # its de-duplication marker could not be stored
    mod = world.alerts if fn == "failure_alert" else world.glue_state
    assert mod.handler(ev, Context()) == {"status": "malformed"}


# -- every event file reaches a handler -----------------------------------------------------------------

HANDLER_OF = {
    "object-created.json": "new_lake_files",
    "object-created-enriched.json": "new_lake_files",
    "object-created-spark-metadata.json": "new_lake_files",
    "malformed-object-created.json": "new_lake_files",
    "crawler-succeeded.json": "glue_state",
    "crawler-succeeded-enriched.json": "glue_state",
    "crawler-started.json": "glue_state",
    "job-load-succeeded.json": "glue_state",
    "reconcile-scheduled.json": "glue_state",
    "crawler-failed.json": "failure_alert",
    "job-load-failed.json": "failure_alert",
    "job-streaming-stopped.json": "failure_alert",
    "job-load-stopped.json": "failure_alert",
    "dq-results-failed.json": "failure_alert",
    "dq-results-passed.json": "failure_alert",
    "msk-topics-create.json": "msk_topics",
    "msk-topics-delete.json": "msk_topics",
    "glue-library-create.json": "glue_library",
    "simulator-schedule.json": "simulator",  # written by the simulator helper; exercised in its own tests
}


def event_file(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_every_event_file_has_a_handler() -> None:
    files = {p.name for p in EVENTS.glob("*.json")}
    assert files - set(HANDLER_OF) == set(), "add the new event file to HANDLER_OF"


@pytest.mark.parametrize(
    "name", sorted(n for n, f in HANDLER_OF.items() if f in ("new_lake_files", "glue_state", "failure_alert"))
)
def test_each_orchestration_event_file_is_handled(world: World, name: str) -> None:
    mod = {"new_lake_files": world.new_files, "glue_state": world.glue_state, "failure_alert": world.alerts}[
        HANDLER_OF[name]
    ]
    out = mod.handler(event_file(name), Context())
    assert out["status"] == ("malformed" if name.startswith("malformed") else out["status"])
    assert out["status"] in {"ok", "alerted", "no-alert", "duplicate", "malformed"}


# -- custom resources ----------------------------------------------------------------------------------


def test_glue_library_publishes_a_content_addressed_zip(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(custom_resource, "respond", lambda ev, body: sent.append(body))
    monkeypatch.setenv("SMARTCITY_PACKAGE_DIR", str(ROOT / "smartcity"))
    mod = _load("glue_library")
    body = mod.handler(event_file("glue-library-create.json"), Context())
    assert body["Status"] == "SUCCESS" and sent == [body]
    uri = body["Data"]["Uri"]
    assert uri.startswith(f"s3://{BUCKET}/artifacts/glue/smartcity-") and uri == body["PhysicalResourceId"]
    key = uri[len(f"s3://{BUCKET}/") :]
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())).namelist()
    assert "smartcity/orchestrate/crawls.py" in names and not any("__pycache__" in n for n in names)
    again = mod.handler(event_file("glue-library-create.json"), Context())
    assert again["Data"]["Uri"] == uri  # same package, same key


def test_custom_resource_failure_is_reported_not_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(custom_resource, "respond", lambda ev, body: sent.append(body))
    ev = event_file("msk-topics-create.json")

    def boom(_e: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raise RuntimeError("broker unreachable")

    body = custom_resource.run(ev, boom, lambda m, e: None)
    assert body["Status"] == "FAILED" and "broker unreachable" in body["Reason"] and sent == [body]


def test_msk_topics_delete_never_blocks_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(custom_resource, "respond", lambda ev, body: sent.append(body))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    body = _load("msk_topics").handler(event_file("msk-topics-delete.json"), Context())
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"].endswith("/topics")


def test_topic_plan_creates_grows_and_refuses_to_shrink() -> None:
    desired = custom_resource.parse_topics(
        event_file("msk-topics-create.json")["ResourceProperties"]["Topics"]
    )
    assert desired == {
        t: 3 for t in ["vehicle_data", "gps_data", "traffic_data", "weather_data", "emergency_data"]
    }
    create, grow = custom_resource.plan_topics(desired, {"vehicle_data": 1, "gps_data": 3})
    assert set(create) == {"traffic_data", "weather_data", "emergency_data"} and grow == {"vehicle_data": 3}
    with pytest.raises(ValueError, match="cannot reduce"):
        custom_resource.plan_topics({"gps_data": 1}, {"gps_data": 3})
    with pytest.raises(ValueError, match="bad topic spec"):
        custom_resource.parse_topics(["gps_data"])
