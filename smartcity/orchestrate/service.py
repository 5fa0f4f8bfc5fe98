"""Wiring of the decisions: one entry point per trigger, shared by the Lambda handlers and the local flow.

The functions take already-parsed events and ready boto3 clients; they never touch Lambda context,
logging setup or metrics, so ``local.py`` can call them with clients pointed at moto.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartcity.orchestrate.config import CoordinationConfig, LakeConfig
from smartcity.orchestrate.coordination import CoordinationTable
from smartcity.orchestrate.crawls import CrawlCoordinator, Outcome
from smartcity.orchestrate.events import CrawlerStateEvent, GlueStateEvent, ObjectCreatedEvent, ScheduledEvent
from smartcity.orchestrate.loads import LoadCoordinator
from smartcity.orchestrate.quality import QualityRunner, QualityStarter

CRAWL_ENDED_STATES = {"succeeded": True, "failed": False}
JOB_ENDED_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"})


@dataclass
class Orchestrator:
    """The crawl and load coordinators over one state table."""

    crawls: CrawlCoordinator
    loads: LoadCoordinator
    enriched_crawler: str
    quality: QualityStarter | None = None

    @classmethod
    def build(
        cls,
        glue: Any,
        dynamodb: Any,
        lake: LakeConfig,
        config: CoordinationConfig,
        clock: Callable[[], float] = time.time,
        quality: tuple[QualityRunner, str] | None = None,
    ) -> Orchestrator:
        """``quality``: the runner and ruleset prefix of the evaluations started after crawls (None: none)."""
        store = CoordinationTable(dynamodb, config.state_table, config.marker_ttl_days)
        crawls = CrawlCoordinator(glue, store, lake, config, clock)
        return cls(
            crawls,
            LoadCoordinator(glue, store, config, clock),
            crawls.crawler_for(config.enriched_table),
            QualityStarter(quality[0], store, quality[1], clock) if quality else None,
        )

    def on_object_created(self, event: ObjectCreatedEvent) -> Outcome:
        return self.crawls.on_object_created(event.detail.bucket.name, event.detail.object.key)

    def on_glue_state(self, event: GlueStateEvent) -> Outcome:
        """Crawl ended → close it, crawl again if owed, load after the enriched table, evaluate the table's
        data quality after a success; load ended → next."""
        if isinstance(event, ScheduledEvent):
            return self.crawls.reconcile().merge(self.loads.reconcile())
        if isinstance(event, CrawlerStateEvent):
            d = event.detail
            succeeded = CRAWL_ENDED_STATES.get(d.state.lower())
            if succeeded is None:
                return Outcome(skipped={d.crawler_name: f"state {d.state} is not an end"})
            out = self.crawls.on_crawl_finished(d.crawler_name, succeeded, d.completion_date or event.time)
            if succeeded and d.crawler_name == self.enriched_crawler:
                out.merge(self.loads.on_enriched_crawled(event.id))
            table = self.crawls.crawlers.get(d.crawler_name)
            if succeeded and table is not None and self.quality is not None:
                out.merge(self.quality.after_crawl(table, event.id))
            return out
        d = event.detail
        if d.job_name != self.loads.job or d.state not in JOB_ENDED_STATES:
            return Outcome(skipped={d.job_name: f"{d.state} of a job this function does not drive"})
        return self.loads.on_load_finished(d.job_run_id, d.state)
