"""After a lake table's crawl succeeded: start its Glue Data Quality ruleset evaluation, once per event.

The ruleset of a table is named like its crawler (``smartcity.quality.names``) and names its table
(``TargetTable`` in the template), so a run needs only the ruleset's name: the Glue runner reads the
table from the ruleset. EventBridge may deliver a crawl's end twice: the start is de-duplicated like the
alerts (a ``seen#qualityrun#<event id>`` marker written after the start) and the start's ``ClientToken`` is
derived from the event id, so a second start of the same event (a death between start and marker) is
recognised by Glue as the same request. Locally the runner is the local engine
(``smartcity.quality.local_runner``), since moto implements no Glue Data Quality API.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from smartcity.orchestrate.coordination import CoordinationTable
from smartcity.orchestrate.crawls import Outcome
from smartcity.quality.names import ruleset_name

QUALITY_RUN_MARKER = "qualityrun"  # kind of the state table's seen#qualityrun#<event id> markers
# Metric of the glue-state function (dimension: service): ruleset evaluations started after crawls.
METRIC_QUALITY_RUNS_STARTED = "QualityRunsStarted"


class QualityRunner(Protocol):
    """Starts (or runs) one ruleset's evaluation and returns its run id."""

    def start(self, ruleset: str, client_token: str) -> str: ...


class GlueQualityRunner:
    """``StartDataQualityRulesetEvaluationRun`` on the table the ruleset names, as ``role_arn``."""

    def __init__(self, glue: Any, role_arn: str) -> None:
        self._glue = glue
        self._role_arn = role_arn

    def start(self, ruleset: str, client_token: str) -> str:
        target = self._glue.get_data_quality_ruleset(Name=ruleset)["TargetTable"]
        run = self._glue.start_data_quality_ruleset_evaluation_run(
            DataSource={
                "GlueTable": {"DatabaseName": target["DatabaseName"], "TableName": target["TableName"]}
            },
            Role=self._role_arn,
            RulesetNames=[ruleset],
            ClientToken=client_token,
        )
        return str(run["RunId"])


def client_token(event_id: str, ruleset: str) -> str:
    """Glue's idempotency token for this event's evaluation of this ruleset (64 hex characters)."""
    return hashlib.sha256(f"{event_id}\n{ruleset}".encode()).hexdigest()


class QualityStarter:
    """Starts the ruleset evaluation of a crawled table at most once per crawl-finished event."""

    def __init__(
        self,
        runner: QualityRunner,
        store: CoordinationTable,
        ruleset_prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runner = runner
        self._store = store
        self._prefix = ruleset_prefix
        self._clock = clock

    def after_crawl(self, table: str, event_id: str) -> Outcome:
        out = Outcome()
        ruleset = ruleset_name(self._prefix, table)
        if self._store.delivered(QUALITY_RUN_MARKER, event_id):
            out.skipped[ruleset] = "evaluation already started for this event"
            return out
        run_id = self._runner.start(ruleset, client_token(event_id, ruleset))
        self._store.first_delivery(QUALITY_RUN_MARKER, event_id, self._clock())
        out.quality_runs.append(run_id)
        return out
