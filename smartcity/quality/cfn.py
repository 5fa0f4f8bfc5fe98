"""The template's Glue Data Quality rulesets, generated from the declaration: one per catalogued table.

``template.yaml`` holds the block between the two marker lines below; ``tests/unit/test_quality_template.py``
fails when it differs from what the declaration generates. Regenerate it with

    python -m smartcity.quality.cfn --write template.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartcity.catalog.tables import LAKE_TABLES
from smartcity.quality.dqdl import render_ruleset
from smartcity.quality.names import ruleset_name
from smartcity.quality.rules import catalogued_tables

BEGIN = "  # >>> data quality rulesets"
END = "  # <<< data quality rulesets"
# Rulesets are named like the crawlers: the stack's name, a dash, the table folder (RULESET_PREFIX).
STACK_PREFIX = "${AWS::StackName}-"


def logical_id(table_name: str) -> str:
    """The ruleset's resource id: ``raw_vehicle`` → ``RawVehicleQualityRuleset``."""
    return "".join(part.capitalize() for part in table_name.split("_")) + "QualityRuleset"


def ruleset_resources() -> str:
    """The YAML of every ruleset resource, between the markers."""
    names = {t.path: t.name for t in LAKE_TABLES}
    lines = [BEGIN]
    for path in catalogued_tables():
        name = names[path]
        dqdl = "\n".join(f"        {line}" for line in render_ruleset(path).splitlines())
        lines += [
            f"  {logical_id(name)}:",
            "    Type: AWS::Glue::DataQualityRuleset",
            "    Properties:",
            f'      Name: !Sub "{ruleset_name(STACK_PREFIX, path)}"',
            f"      Description: Data quality rules of {name} (smartcity/quality/rules.py)",
            "      TargetTable:",
            "        DatabaseName: !Ref GlueDatabase",
            f"        TableName: {name}",
            "      Ruleset: |-",
            dqdl,
            "",
        ]
    lines[-1] = END
    return "\n".join(lines)


def replace_block(template: str) -> str:
    """The template with its ruleset block replaced by the generated one."""
    start, end = template.index(BEGIN), template.index(END) + len(END)
    return template[:start] + ruleset_resources() + template[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print or write the template's data quality rulesets")
    parser.add_argument("--write", type=Path, metavar="TEMPLATE", help="replace the block in this template")
    args = parser.parse_args(argv)
    if args.write is None:
        print(ruleset_resources())
        return 0
    args.write.write_text(replace_block(args.write.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
