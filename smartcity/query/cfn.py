"""The template's Athena named queries, generated from the saved query files: one per ``saved/<name>.sql``.

``template.yaml`` holds the block between the two marker lines below; ``tests/unit/test_template_blocks.py``
fails when it differs from what the files generate. Regenerate every generated block with

    python -m smartcity.template_blocks --write template.yaml
"""

from __future__ import annotations

import json

from smartcity.query.saved import SavedQuery, saved_queries

BEGIN = "  # >>> saved queries"
END = "  # <<< saved queries"


def logical_id(name: str) -> str:
    """The named query's resource id: ``vehicles_per_hour`` → ``VehiclesPerHourQuery``."""
    return "".join(part.capitalize() for part in name.split("_")) + "Query"


def _named_query(query: SavedQuery) -> list[str]:
    return [
        f"  {logical_id(query.name)}:",
        "    Type: AWS::Athena::NamedQuery",
        "    Properties:",
        f"      Name: {query.name}",
        f"      Description: {json.dumps(query.question)}",
        "      Database: !Ref GlueDatabase",
        "      WorkGroup: !Ref AthenaWorkGroup",
        "      QueryString: |",
        *(f"        {line}".rstrip() for line in query.sql.splitlines()),
        "",
    ]


def named_query_resources() -> str:
    """The YAML of every saved query's ``AWS::Athena::NamedQuery``, between the markers."""
    lines = [BEGIN]
    for query in saved_queries().values():
        lines += _named_query(query)
    lines[-1] = END
    return "\n".join(lines)
