"""Data quality in the orchestration: a crawl's success starts its table's ruleset evaluation once per event,
and a failed rule is alerted with its metric.

moto implements no Glue Data Quality API, so the Glue calls of the evaluation start go to a client stubbed
with botocore's Stubber, which checks every request and response against Glue's real service model; the
crawl coordination state lives in moto's DynamoDB and moto's Glue crawlers as in the other handler tests.
The alerts run the failure-alert handler on moto's SNS, DynamoDB and SQS (``tests/unit/test_handlers``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

moto = pytest.importorskip("moto")
from moto import mock_aws  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402

from smartcity.local.stack import private_stack_settings  # noqa: E402
from smartcity.orchestrate.alerts import (  # noqa: E402
    DIMENSION_KIND,
    METRIC_ALERTS_PUBLISHED,
    METRIC_DATA_QUALITY_FAILURES,
    AlertKind,
)
from smartcity.orchestrate.config import CoordinationConfig, LakeConfig, QualityConfig  # noqa: E402
from smartcity.orchestrate.events import parse_glue_state  # noqa: E402
from smartcity.orchestrate.lake_keys import TABLE_PATHS, crawler_name  # noqa: E402
from smartcity.orchestrate.quality import GlueQualityRunner, client_token  # noqa: E402
from smartcity.orchestrate.service import Orchestrator  # noqa: E402
from smartcity.quality.local_runner import LocalQualityRunner  # noqa: E402
from smartcity.quality.names import ruleset_name  # noqa: E402
from tests.unit.test_handlers import Context, World, _emf, built_world, event_file, world  # noqa: E402, F401
from tests.unit.test_quality_cli import lake_rows  # noqa: E402

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PREFIX = "smartcity-"
STATE_TABLE = "quality-orchestration-test"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/smartcity-DataQualityRole"  # moto's account
DATABASE = "smartcity_dev"
TABLE = "raw/weather"
RULESET = ruleset_name(PREFIX, TABLE)


def crawl_event(
    state: str = "Succeeded", event_id: str = "crawl-end-1", table: str = TABLE
) -> dict[str, Any]:
    ev = event_file("crawler-succeeded.json")
    ev["id"] = event_id
    ev["detail"].update(crawlerName=crawler_name(PREFIX, table), state=state)
    return ev


class Stage:
    """The orchestrator over moto's DynamoDB and Glue crawlers, its evaluation starts on a stubbed Glue."""

    def __init__(self) -> None:
        self.dq_glue = boto3.client("glue", region_name=REGION)
        self.stub = Stubber(self.dq_glue)
        self.stub.activate()
        self.orchestrator = Orchestrator.build(
            boto3.client("glue", region_name=REGION),
            boto3.client("dynamodb", region_name=REGION),
            LakeConfig("smartcity-lake", "lake/", PREFIX),
            CoordinationConfig(state_table=STATE_TABLE, load_job_name="smartcity-redshift-load"),
            quality=(GlueQualityRunner(self.dq_glue, ROLE), PREFIX),
        )

    def expect_start(self, event_id: str, run_id: str) -> None:
        """The two calls one evaluation start makes, with exactly these parameters."""
        self.stub.add_response(
            "get_data_quality_ruleset",
            {"Name": RULESET, "TargetTable": {"DatabaseName": DATABASE, "TableName": "raw_weather"}},
            {"Name": RULESET},
        )
        self.stub.add_response(
            "start_data_quality_ruleset_evaluation_run",
            {"RunId": run_id},
            {
                "DataSource": {"GlueTable": {"DatabaseName": DATABASE, "TableName": "raw_weather"}},
                "Role": ROLE,
                "RulesetNames": [RULESET],
                "ClientToken": client_token(event_id, RULESET),
            },
        )

    def deliver(self, event: dict[str, Any]) -> Any:
        return self.orchestrator.on_glue_state(parse_glue_state(event))


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=STATE_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        glue = boto3.client("glue", region_name=REGION)
        for table in TABLE_PATHS:
            glue.create_crawler(
                Name=crawler_name(PREFIX, table),
                Role="crawler-role",
                DatabaseName=DATABASE,
                Targets={"S3Targets": [{"Path": f"s3://smartcity-lake/lake/{table}/"}]},
            )
        s = Stage()
        yield s
        s.stub.deactivate()


def test_a_successful_crawl_starts_its_tables_ruleset_evaluation(stage: Stage) -> None:
    stage.expect_start("crawl-end-1", "dqrun-1")
    out = stage.deliver(crawl_event())
    assert out.quality_runs == ["dqrun-1"]
    stage.stub.assert_no_pending_responses()


def test_a_duplicate_crawl_end_starts_nothing_more(stage: Stage) -> None:
    stage.expect_start("crawl-end-1", "dqrun-1")
    stage.deliver(crawl_event())
    # No response is queued: a second start would raise Stubber's UnStubbedResponseError.
    again = stage.deliver(crawl_event())
    assert again.quality_runs == [] and RULESET in again.skipped
    # Another crawl's end (another event) is evaluated again.
    stage.expect_start("crawl-end-2", "dqrun-2")
    assert stage.deliver(crawl_event(event_id="crawl-end-2")).quality_runs == ["dqrun-2"]
    stage.stub.assert_no_pending_responses()


@pytest.mark.parametrize("state", ["Failed", "Started"])
def test_a_crawl_that_did_not_succeed_starts_no_evaluation(stage: Stage, state: str) -> None:
    assert stage.deliver(crawl_event(state=state)).quality_runs == []


def test_a_failed_start_leaves_no_marker_so_the_redelivery_starts_it(stage: Stage) -> None:
    stage.stub.add_response(
        "get_data_quality_ruleset",
        {"Name": RULESET, "TargetTable": {"DatabaseName": DATABASE, "TableName": "raw_weather"}},
        {"Name": RULESET},
    )
    stage.stub.add_client_error(
        "start_data_quality_ruleset_evaluation_run", "InternalServiceException", "try again"
    )
    with pytest.raises(Exception, match="InternalServiceException"):
        stage.deliver(crawl_event())
    stage.expect_start("crawl-end-1", "dqrun-1")
    assert stage.deliver(crawl_event()).quality_runs == ["dqrun-1"]


def test_a_crawler_of_another_stack_starts_no_evaluation(stage: Stage) -> None:
    ev = crawl_event()
    ev["detail"]["crawlerName"] = "other-stack-raw-weather"
    assert stage.deliver(ev).quality_runs == []


def test_quality_config_is_off_without_a_ruleset_prefix_and_needs_the_role_with_one() -> None:
    assert QualityConfig.from_env({}) is None
    config = QualityConfig.from_env({"RULESET_PREFIX": PREFIX, "DATA_QUALITY_ROLE_ARN": ROLE})
    assert config == QualityConfig(PREFIX, ROLE)
    with pytest.raises(Exception, match="DATA_QUALITY_ROLE_ARN"):
        QualityConfig.from_env({"RULESET_PREFIX": PREFIX})


# -- alerts ------------------------------------------------------------------------------------------------


def test_a_failed_rule_is_alerted_once_with_its_metric(
    world: World,  # noqa: F811 (the handler tests' moto world, a fixture)
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = world.alerts.handler(event_file("dq-results-failed.json"), Context())
    assert out == {
        "status": "alerted",
        "subject": "[smartcity] data-quality smartcity-raw-weather 3-RULES-FAILED",
    }
    [msg] = world.alert_messages()
    body = msg["Message"]
    assert "3 of 30 rules failed on smartcity_dev.raw_weather" in body
    assert (
        "get-data-quality-result --result-id dqresult-7a1b" in body and "When: 2024-05-01T13:25:41Z" in body
    )
    emitted = _emf(capsys)
    service = {"service": "test"}
    assert (METRIC_DATA_QUALITY_FAILURES, service, 1.0) in emitted
    assert (METRIC_ALERTS_PUBLISHED, {**service, DIMENSION_KIND: AlertKind.DATA_QUALITY}, 1.0) in emitted
    # EventBridge delivers at least once: the same event again publishes and counts nothing.
    assert world.alerts.handler(event_file("dq-results-failed.json"), Context())["status"] == "duplicate"
    assert world.alert_messages() == []
    assert not any(m == METRIC_DATA_QUALITY_FAILURES for m, _, _ in _emf(capsys))


def test_every_rule_passing_is_no_alert_and_a_run_that_failed_is_one(world: World) -> None:  # noqa: F811
    assert world.alerts.handler(event_file("dq-results-passed.json"), Context())["status"] == "no-alert"
    ev = event_file("dq-results-passed.json")
    ev["id"] = "run-failed"
    ev["detail"]["state"] = "FAILED"
    out = world.alerts.handler(ev, Context())
    assert out["status"] == "alerted" and out["subject"].endswith("smartcity-raw-weather FAILED")
    assert "ended FAILED" in world.alert_messages()[0]["Message"]


def test_the_results_event_files_are_the_documented_shape() -> None:
    for name in ("dq-results-failed.json", "dq-results-passed.json"):
        ev = json.loads((ROOT / "events" / name).read_text())
        assert ev["source"] == "aws.glue-dataquality"
        assert ev["detail"]["context"]["contextType"] == "GLUE_DATA_CATALOG"
        assert ev["detail"]["rulesetNames"] == [RULESET]


# -- the local adapter ---------------------------------------------------------------------------------------


def test_locally_a_successful_crawl_evaluates_its_table_with_the_local_engine(
    stage: Stage, tmp_path: Path
) -> None:

    settings = private_stack_settings(tmp_path)
    lake_rows(tmp_path, 3, humidity=-1.0)
    local = Orchestrator.build(
        boto3.client("glue", region_name=REGION),
        boto3.client("dynamodb", region_name=REGION),
        LakeConfig("smartcity-lake", "lake/", PREFIX),
        CoordinationConfig(state_table=STATE_TABLE, load_job_name="smartcity-redshift-load"),
        quality=(LocalQualityRunner(settings, PREFIX), PREFIX),
    )
    [run] = local.on_glue_state(parse_glue_state(crawl_event())).quality_runs
    assert run.endswith("-failed"), "the out-of-range humidity fails its rule"
    assert local.on_glue_state(parse_glue_state(crawl_event())).quality_runs == []  # the duplicate
