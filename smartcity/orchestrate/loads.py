"""Load decisions: start the Redshift-load Glue job after the enriched table's crawl, never twice at once.

The job itself allows one concurrent run (``MaxConcurrentRuns: 1``) and reads only what its bookmark has
not seen, so a run started after a crawl loads everything that crawl catalogued. A request that arrives
while a run is going (``ConcurrentRunsExceededException``, or a live claim in the state table) stays owed
in the state table and is consumed when that run's SUCCEEDED state-change event arrives: no load is lost
and none runs concurrently. A failed run is alerted and retried by the periodic reconcile, not at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from smartcity.orchestrate.config import CoordinationConfig
from smartcity.orchestrate.coordination import CoordinationTable
from smartcity.orchestrate.crawls import Outcome

UNKNOWN_RUN = "unknown"
# Metrics of the glue-state function (dimension: service).
METRIC_LOADS_STARTED = "LoadsStarted"
METRIC_LOADS_DEFERRED = "LoadsDeferred"  # a load owed while a run is going: started when that run ends


class LoadCoordinator:
    """Starts the load job through the Glue API under a claim kept in the state table."""

    def __init__(
        self,
        glue: Any,
        store: CoordinationTable,
        config: CoordinationConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._glue = glue
        self._store = store
        self._config = config
        self._clock = clock

    @property
    def job(self) -> str:
        return self._config.load_job_name

    def on_enriched_crawled(self, event_id: str) -> Outcome:
        """The enriched table's crawl succeeded: owe one load (once per event) and start it if idle."""
        out = Outcome()
        if not self._store.request_load(self.job, event_id, self._clock()):
            out.skipped[event_id] = "duplicate load request"
            return out
        return out.merge(self.ensure_load())

    def ensure_load(self) -> Outcome:
        out = Outcome()
        now = self._clock()
        if self._store.claim_load(self.job, now, self._config.claim_lifetime) is None:
            out.loads_deferred.append(self.job)
            return out
        try:
            run = self._glue.start_job_run(JobName=self.job)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConcurrentRunsExceededException":
                # A run we did not start is going; its end event consumes what is owed.
                self._store.set_load_run(self.job, now, UNKNOWN_RUN, unknown=True)
                out.loads_deferred.append(self.job)
                return out
            self._store.release_load(self.job, now)
            raise
        self._store.set_load_run(self.job, now, run["JobRunId"])
        out.loads_started.append(run["JobRunId"])
        return out

    def on_load_finished(self, run_id: str, state: str) -> Outcome:
        """A run of the load job ended: close its claim, and on success start again if more is owed."""
        out = Outcome()
        record = self._store.load(self.job)
        if record.run_claim is not None and record.run_id in (run_id, UNKNOWN_RUN):
            self._store.finish_load(self.job, record.run_claim, state == "SUCCEEDED", record.run_gen or 0)
        elif record.run_claim is not None:
            out.skipped[run_id] = "not the run in flight"
            return out
        if state != "SUCCEEDED":
            out.skipped[run_id] = f"run ended {state}; retried by reconcile"
            return out
        if self._store.load(self.job).owed:
            return out.merge(self.ensure_load())
        return out

    def reconcile(self) -> Outcome:
        if self._store.load(self.job).owed:
            return self.ensure_load()
        return Outcome()
