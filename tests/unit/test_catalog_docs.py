"""docs/catalog.md's CloudFormation snippet (copied into template.yaml) agrees with the local crawler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smartcity.catalog import CRAWLER_EXCLUSIONS, LAKE_TABLES
from smartcity.config import Settings

pytestmark = pytest.mark.unit

DOC = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()


def test_documented_exclusions_are_the_crawlers() -> None:
    block = DOC.split("Exclusions: &LakeExclusions", 1)[1]
    listed = []
    for line in block.splitlines()[1:]:
        m = re.fullmatch(r'\s*- "(.*)"', line)
        if not m:
            break
        listed.append(m.group(1))
    assert tuple(listed) == CRAWLER_EXCLUSIONS


def test_documented_table_names_and_crawlers_match() -> None:
    settings = Settings(profile="local")
    for t in LAKE_TABLES:
        assert re.search(
            rf"\| `{t.name}`\s*\| `{re.escape(t.path)}/`\s*\|.*\| `{t.crawler_name(settings)}`", DOC
        )


def test_recrawl_and_schema_policies_are_the_ones_implemented() -> None:
    assert DOC.count("RecrawlBehavior: CRAWL_EVENT_MODE") == 3
    assert DOC.count('"AddOrUpdateBehavior":"MergeNewColumns"') == 3
    assert DOC.count('"AddOrUpdateBehavior":"InheritFromTable"') == 3
