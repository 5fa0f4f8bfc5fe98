"""The last crawl and warehouse load with their state, as the Glue API reports them (moto locally).

The orchestration starts the crawlers and the load job through the Glue API in both worlds
(``smartcity.orchestrate``), so that API is where their last run and its state are read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


@dataclass(frozen=True)
class RunState:
    """One crawler's or the load job's latest run: what, its state, when it started and ended."""

    name: str
    state: str
    started: datetime | None
    finished: datetime | None = None


def crawler_runs(glue: Any, prefix: str) -> list[RunState]:
    """Every crawler named with ``prefix``: its last crawl's status (or its current state)."""
    out: list[RunState] = []
    for page in glue.get_paginator("get_crawlers").paginate():
        for c in page.get("Crawlers", []):
            if not c["Name"].startswith(prefix):
                continue
            last = c.get("LastCrawl") or {}
            state = c.get("State", "READY")
            out.append(
                RunState(
                    c["Name"],
                    "RUNNING" if state == "RUNNING" else str(last.get("Status", "never run")),
                    last.get("StartTime"),
                )
            )
    return sorted(out, key=lambda r: r.name)


def load_run(glue: Any, job_name: str) -> RunState | None:
    """The load job's newest run, or None when it never ran."""
    runs = glue.get_job_runs(JobName=job_name, MaxResults=10).get("JobRuns", [])
    if not runs:
        return None
    newest = max(runs, key=lambda r: r.get("StartedOn") or datetime.min)
    return RunState(
        job_name, newest.get("JobRunState", "?"), newest.get("StartedOn"), newest.get("CompletedOn")
    )


def orchestration_state(
    glue: Any, crawler_prefix: str, load_job: str
) -> tuple[list[RunState], RunState | None]:
    """Crawls and the last load; raises :class:`OrchestrationUnavailable` when the API cannot answer."""
    try:
        return crawler_runs(glue, crawler_prefix), load_run(glue, load_job)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
            return crawler_runs(glue, crawler_prefix), None
        raise OrchestrationUnavailable(str(exc)) from None
    except BotoCoreError as exc:
        raise OrchestrationUnavailable(str(exc)) from None


class OrchestrationUnavailable(RuntimeError):
    """The Glue API did not answer (stack down, no credentials)."""
