"""The template's Glue Data Quality rulesets are exactly what the declaration generates, attached to the
catalogued tables, evaluated by the glue-state function after crawls and alerted by the alert function.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartcity.anomaly.rules import ANOMALY_COLUMNS
from smartcity.catalog.tables import LAKE_TABLES
from smartcity.config import Stream
from smartcity.contract.columns import enriched_columns, quarantine_columns, raw_columns
from smartcity.lake_layout import ANOMALIES_TABLE, ENRICHED_TABLE, QUARANTINE_TABLE, TABLE_PATHS, raw_table
from smartcity.quality import cfn
from smartcity.quality.dqdl import render_rule, render_ruleset
from smartcity.quality.rules import RULESETS, Fresh, Unique, catalogued_tables
from tests.unit.test_template import _CfnLoader, resources

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DQ = "AWS::Glue::DataQualityRuleset"


@pytest.fixture(scope="module")
def cfn_template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


# The DQDL rule shapes the renderer may produce (AWS Glue DQDL rule type reference).
DQDL_RULE = re.compile(
    r'IsComplete "\w+"'
    r'|\(ColumnValues "\w+" >= -?[\d.]+\) and \(ColumnValues "\w+" <= -?[\d.]+\)'
    r'|ColumnValues "\w+" in \["[^"]+"(, "[^"]+")*\]'
    r'|IsPrimaryKey( "\w+")+'
    r'|CustomSql "[^"]+" (<=|>=) [\d.]+'
    r"|RowCount > 0"
)


def test_the_templates_ruleset_block_is_the_generated_one() -> None:
    text = (ROOT / "template.yaml").read_text()
    assert cfn.ruleset_resources() in text, (
        "template.yaml's data quality rulesets differ from smartcity/quality/rules.py: run "
        "`python -m smartcity.quality.cfn --write template.yaml`"
    )


def test_one_ruleset_per_catalogued_table_with_the_generated_dqdl(cfn_template: dict[str, Any]) -> None:
    rulesets = resources(cfn_template, DQ)
    names = {t.path: t.name for t in LAKE_TABLES}
    assert catalogued_tables() == TABLE_PATHS, (
        "every catalogued table needs rules in smartcity/quality/rules.py"
    )
    assert len(rulesets) == len(TABLE_PATHS)
    crawlers = {
        c["Properties"]["Name"]["Fn::Sub"] for c in resources(cfn_template, "AWS::Glue::Crawler").values()
    }
    for path in TABLE_PATHS:
        props = rulesets[cfn.logical_id(names[path])]["Properties"]
        assert props["Ruleset"] == render_ruleset(path)
        assert props["TargetTable"] == {"DatabaseName": {"Ref": "GlueDatabase"}, "TableName": names[path]}
        assert props["Name"]["Fn::Sub"] in crawlers, "a ruleset is named like its table's crawler"


def test_every_rendered_rule_has_a_dqdl_shape() -> None:
    for rules in RULESETS.values():
        for rule in rules:
            assert DQDL_RULE.fullmatch(render_rule(rule)), render_rule(rule)


def test_every_rule_names_a_column_of_its_table() -> None:
    columns = {
        **{raw_table(s): {c.name for c in raw_columns(s)} for s in Stream},
        QUARANTINE_TABLE: {c.name for c in quarantine_columns()},
        ENRICHED_TABLE: {c.name for c in enriched_columns()},
        ANOMALIES_TABLE: set(ANOMALY_COLUMNS),
    }
    assert set(columns) == set(RULESETS)
    for table, rules in RULESETS.items():
        for rule in rules:
            named = (
                set(rule.columns) if isinstance(rule, Unique) else {getattr(rule, "column", None)} - {None}
            )
            assert named <= columns[table], f"{table}: {rule} names a column the table does not have"
        assert any(isinstance(r, Unique) for r in rules), f"{table} has no identity rule"
    assert {r.column for r in RULESETS[raw_table(Stream.VEHICLE)] if isinstance(r, Fresh)} == {"ingest_time"}


def test_the_glue_state_function_starts_the_rulesets_as_the_data_quality_role(
    cfn_template: dict[str, Any],
) -> None:
    fn = cfn_template["Resources"]["GlueStateFunction"]["Properties"]
    env = fn["Environment"]["Variables"]
    assert env["RULESET_PREFIX"] == env["CRAWLER_PREFIX"], "rulesets are named like the crawlers"
    assert env["DATA_QUALITY_ROLE_ARN"] == {"Fn::GetAtt": ["DataQualityRole", "Arn"]}
    statements = [s for p in fn["Policies"] for s in p["Statement"]]
    [pass_role] = [s for s in statements if s["Action"] == ["iam:PassRole"]]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["DataQualityRole", "Arn"]}
    role = cfn_template["Resources"]["DataQualityRole"]["Properties"]
    reads = [
        s
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s["Action"] == ["s3:GetObject"]
    ]
    assert reads and reads[0]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/${LakePrefix}*"}


def test_the_alert_function_receives_the_stacks_data_quality_results(cfn_template: dict[str, Any]) -> None:
    events = cfn_template["Resources"]["FailureAlertFunction"]["Properties"]["Events"]
    [rule] = [e for e in events.values() if e["Properties"]["Pattern"]["source"] == ["aws.glue-dataquality"]]
    pattern = rule["Properties"]["Pattern"]
    assert pattern["detail-type"] == ["Data Quality Evaluation Results Available"]
    assert pattern["detail"]["rulesetNames"] == [{"prefix": {"Fn::Sub": "${AWS::StackName}-"}}]
