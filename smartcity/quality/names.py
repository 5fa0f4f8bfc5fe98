"""Names of the Glue Data Quality rulesets: one per lake table, named like the table's crawler.

Separate from the rules so the orchestration functions (whose layer carries no contract models) can
derive a ruleset's name from a crawled table without importing the declaration.
"""

from __future__ import annotations

from smartcity.lake_layout import crawler_name


def ruleset_name(ruleset_prefix: str, table: str) -> str:
    """The ruleset of a table folder as the template names it (``raw/vehicle`` → ``<prefix>raw-vehicle``)."""
    return crawler_name(ruleset_prefix, table)
