"""Crawl decisions: which crawler a new file needs, when to start it, and when to start it again.

Rules: a burst of thousands of files must not start thousands of crawls; a file that lands
while its crawler runs must be covered by a later crawl; no file waits forever.
- Only the *first* file of a partition owes a crawl (Athena lists files at query time, so later files of
  a catalogued partition are visible without one). ``CoordinationTable.sight_partition`` makes that decision
  and increments the crawler's owed generation atomically, so a duplicate delivery owes nothing.
- A crawl is started only under a claim in the state table; while a claim is live no StartCrawler is
  even attempted. ``CrawlerRunningException`` means someone else's crawl is running: success, but that run
  is assumed to cover nothing we recorded, so its end triggers another crawl if anything is owed.
- When a crawl ends, the claim is closed (success raises the covered generation) and, if anything is
  still owed, the crawler starts again. A periodic ``reconcile`` does the same for every crawler, so a
  failed crawl, a failed start or a kill between claim and start delays a crawl by one reconcile period
  (plus ``CoordinationConfig.unconfirmed_after_s`` for the kill); a lost finish event by the stale period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from smartcity.orchestrate.config import CoordinationConfig, LakeConfig
from smartcity.orchestrate.coordination import CoordinationTable, MarkerKeyTooLong
from smartcity.orchestrate.lake_keys import TABLE_PATHS, classify_key, crawler_name

# Metrics of the new-lake-files and glue-state functions (dimension: service).
METRIC_CRAWLS_STARTED = "CrawlsStarted"
METRIC_OBJECTS_IGNORED = "ObjectsIgnored"  # objects that owe no crawl (not table data, partition known)


@dataclass
class Outcome:
    """What a decision did, for logs, metrics and tests."""

    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    loads_started: list[str] = field(default_factory=list)
    loads_deferred: list[str] = field(default_factory=list)
    malformed: dict[str, str] = field(default_factory=dict)
    quality_runs: list[str] = field(default_factory=list)  # data quality evaluation runs started

    def merge(self, other: Outcome) -> Outcome:
        self.started += other.started
        self.already_running += other.already_running
        self.skipped.update(other.skipped)
        self.loads_started += other.loads_started
        self.loads_deferred += other.loads_deferred
        self.malformed.update(other.malformed)
        self.quality_runs += other.quality_runs
        return self


class CrawlCoordinator:
    """Starts crawlers through the Glue API under claims kept in the state table."""

    def __init__(
        self,
        glue: Any,
        store: CoordinationTable,
        lake: LakeConfig,
        config: CoordinationConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._glue = glue
        self._store = store
        self._lake = lake
        self._config = config
        self._clock = clock

    def crawler_for(self, table: str) -> str:
        return crawler_name(self._lake.crawler_prefix, table)

    @property
    def crawlers(self) -> dict[str, str]:
        """Crawler name → lake table, for every lake table."""
        return {self.crawler_for(t): t for t in TABLE_PATHS}

    def on_object_created(self, bucket: str, key: str) -> Outcome:
        """A new object in the lake bucket: owe and start its table's crawl if its partition is new."""
        out = Outcome()
        if bucket != self._lake.bucket:
            out.skipped[key] = "other bucket"
            return out
        obj = classify_key(key, self._lake.prefix)
        if obj is None:
            out.skipped[key] = "not table data"
            return out
        crawler = self.crawler_for(obj.table)
        try:
            sighted = self._store.sight_partition(crawler, obj.table, obj.partition, self._clock())
        except MarkerKeyTooLong as exc:
            out.malformed[key] = str(exc)
            return out
        if not sighted:
            out.skipped[key] = "partition already sighted"
            return out
        return out.merge(self.ensure_crawl(crawler))

    def ensure_crawl(self, crawler: str) -> Outcome:
        """Start the crawler unless a live claim says a crawl is already in flight for it."""
        out = Outcome()
        now = self._clock()
        claim = self._store.claim_crawl(crawler, now, self._config.claim_lifetime)
        if claim is None:
            out.skipped[crawler] = "crawl in flight"
            return out
        try:
            self._glue.start_crawler(Name=crawler)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "CrawlerRunningException":
                self._store.mark_crawl_unknown(crawler, now, self._clock())
                out.already_running.append(crawler)
                return out
            self._store.release_crawl(crawler, now)
            raise
        self._store.confirm_crawl(crawler, now, self._clock())
        out.started.append(crawler)
        return out

    def on_crawl_finished(self, crawler: str, succeeded: bool, finished_at: datetime) -> Outcome:
        """Close the crawl that ended and start another if files arrived that it may have missed.

        Events for crawlers this stack does not own are ignored. The end of an earlier crawl (a duplicate
        or late delivery, even within the second of the restart) never closes the newer claim
        (``CrawlRecord.ends_claim``).
        """
        out = Outcome()
        if crawler not in self.crawlers:
            out.skipped[crawler] = "not a lake crawler"
            return out
        ended = finished_at.timestamp()
        self._store.note_crawl_end(crawler, ended)
        record = self._store.crawl(crawler)
        claim = record.inflight_claim
        if claim is not None and not (
            record.ends_claim(ended)
            and self._store.finish_crawl(crawler, claim, ended, succeeded, record.inflight_gen or 0)
        ):
            out.skipped[crawler] = "end of an earlier crawl than the one in flight"
            return out
        if not succeeded:
            # A failing crawler restarted at once would loop; the alert goes out and reconcile retries it.
            out.skipped[crawler] = "crawl failed; retried by reconcile"
            return out
        if self._store.crawl(crawler).owed:
            return out.merge(self.ensure_crawl(crawler))
        return out

    def reconcile(self, crawlers: Iterable[str] | None = None) -> Outcome:
        """Start every crawler that is owed a crawl and has no live claim (the safety net)."""
        out = Outcome()
        for crawler in crawlers or self.crawlers:
            if self._store.crawl(crawler).owed:
                out.merge(self.ensure_crawl(crawler))
        return out
