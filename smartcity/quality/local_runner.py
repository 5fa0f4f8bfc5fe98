"""The local orchestration's data quality runner: where AWS starts a Glue Data Quality evaluation run after
a crawl, the local stack evaluates the same rules at once with the local engine (moto implements no Glue
Data Quality API), so ``smartcity.orchestrate.local``'s crawl-finished path takes the handler's code path.
"""

from __future__ import annotations

from smartcity.config import Settings
from smartcity.quality.names import ruleset_name
from smartcity.quality.rules import RULESETS
from smartcity.quality.run import evaluate_tables


class LocalQualityRunner:
    """Evaluates the ruleset's table on the local lake (a ``QualityRunner``)."""

    def __init__(self, settings: Settings, ruleset_prefix: str) -> None:
        self._settings = settings
        self._tables = {ruleset_name(ruleset_prefix, t): t for t in RULESETS}

    def start(self, ruleset: str, client_token: str) -> str:
        [result] = evaluate_tables(self._settings, [self._tables[ruleset]])
        return f"local-{client_token[:16]}-{'passed' if result.passed else 'failed'}"
