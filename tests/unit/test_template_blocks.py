"""template.yaml's generated blocks are what their declarations generate now, and the hand-written parts that
name every crawler queue (the bucket's dependencies, the crawler role) name exactly the generated ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from smartcity import template_blocks
from smartcity.catalog import cfn as catalog_cfn
from smartcity.catalog.exclusions import CRAWLER_EXCLUSIONS
from smartcity.catalog.tables import LAKE_TABLES
from smartcity.query import cfn as query_cfn
from smartcity.query.saved import saved_queries
from tests.unit.test_template import _CfnLoader, resources

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def text() -> str:
    return TEMPLATE.read_text()


@pytest.fixture(scope="module")
def template(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_CfnLoader)


def test_every_generated_block_is_current(text: str) -> None:
    assert template_blocks.stale_blocks(text) == [], (
        "template.yaml differs from its declarations: "
        "run `python -m smartcity.template_blocks --write template.yaml`"
    )


def test_a_block_edited_by_hand_is_reported_stale_and_write_restores_it(text: str, tmp_path: Path) -> None:
    exclusion = f'"{CRAWLER_EXCLUSIONS[-1]}"]'
    assert exclusion in text
    edited = text.replace(exclusion, '"**/.*"]', 1)  # one crawler loses an exclusion
    path = tmp_path / "template.yaml"
    path.write_text(edited)
    assert template_blocks.stale_blocks(edited) == [catalog_cfn.BEGIN.strip()]
    assert template_blocks.main(["--check", str(path)]) == 1
    assert template_blocks.main(["--write", str(path)]) == 0
    assert path.read_text() == text
    assert template_blocks.main(["--check", str(path)]) == 0


def test_a_template_without_a_blocks_markers_is_a_one_line_error(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(query_cfn.END, "", 1))
    assert template_blocks.main(["--write", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "saved queries" in err and "\n" not in err
    assert path.read_text() == text.replace(query_cfn.END, "", 1), "nothing is written on error"


def test_one_queue_policy_and_crawler_per_table_under_the_ids_deployed_stacks_know(
    template: dict[str, Any],
) -> None:
    # The ids predate the generator: a changed id would replace the crawler, whose fixed name then collides.
    stems = [catalog_cfn.logical_id(t) for t in LAKE_TABLES]
    assert stems == [
        "RawVehicle",
        "RawGps",
        "RawTraffic",
        "RawWeather",
        "RawEmergency",
        "Quarantine",
        "VehicleEnriched",
        "Anomalies",
    ]
    for suffix, rtype in [
        ("CrawlerQueue", "AWS::SQS::Queue"),
        ("CrawlerQueuePolicy", "AWS::SQS::QueuePolicy"),
        ("Crawler", "AWS::Glue::Crawler"),
    ]:
        generated = {s + suffix for s in stems}
        assert generated <= set(resources(template, rtype)), suffix


def test_every_crawler_queue_hears_of_its_tables_files_and_only_its_crawlers_read_it(
    template: dict[str, Any],
) -> None:
    res = template["Resources"]
    crawlers = resources(template, "AWS::Glue::Crawler").values()
    queue_of_path = {
        c["Properties"]["Targets"]["S3Targets"][0]["Path"]["Fn::Sub"].split("${LakePrefix}", 1)[1]: c[
            "Properties"
        ]["Targets"]["S3Targets"][0]["EventQueueArn"]
        for c in crawlers
    }
    notified = {
        n["Filter"]["S3Key"]["Rules"][0]["Value"]["Fn::Sub"].split("${LakePrefix}", 1)[1]: n["Queue"]
        for n in res["DataBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    }
    assert notified == queue_of_path, "each table folder notifies the queue its crawler listens to"
    policies = set(resources(template, "AWS::SQS::QueuePolicy")) - {"OrchestrationDeadLetterQueuePolicy"}
    assert policies <= set(res["DataBucket"]["DependsOn"]), "S3 checks the queue policies on notifications"
    [statement] = [
        s
        for p in res["CrawlerRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Sid") == "CrawlerEventQueues"
    ]
    assert sorted(map(str, statement["Resource"])) == sorted(map(str, queue_of_path.values()))


def test_named_queries_are_generated_from_the_saved_files(template: dict[str, Any]) -> None:
    named = resources(template, "AWS::Athena::NamedQuery")
    for query in saved_queries().values():
        props = named[query_cfn.logical_id(query.name)]["Properties"]
        assert (props["Name"], props["Description"], props["QueryString"]) == (
            query.name,
            query.question,
            query.sql,
        )
