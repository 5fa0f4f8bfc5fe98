"""Keep the Glue streaming job running the current job definition.

A streaming job run never ends on its own, and Glue does not restart it when its definition (script,
package, arguments) changes: a run keeps the definition it started with. So after every deployment, and
on a schedule as the keep-alive, ``ensure_current`` compares the running run's start time with the job's
``LastModifiedOn``: a run started before the last change is stopped and a new one started; no run at all
is started. The Spark checkpoint makes the new run continue where the old one stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

# Run states in which a run holds the job (MaxConcurrentRuns 1); every other state is final.
ACTIVE_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
POLL_S = 10.0

Action = Literal["start", "restart", "wait", "none"]


@dataclass(frozen=True)
class RolloutPlan:
    """What the job needs and why, in words for the logs and the custom resource's answer."""

    action: Action
    reason: str
    run_id: str | None = None


def plan_rollout(job_modified: datetime | None, runs: list[dict[str, Any]]) -> RolloutPlan:
    """Decide from the job's ``LastModifiedOn`` and its recent runs (``GetJobRuns``) what to do."""
    active = [r for r in runs if r.get("JobRunState") in ACTIVE_STATES]
    if not active:
        return RolloutPlan("start", "no run is active")
    run = max(active, key=lambda r: r["StartedOn"])
    if run["JobRunState"] == "STOPPING":
        return RolloutPlan("wait", "the active run is stopping", run["Id"])
    if job_modified is not None and run["StartedOn"] < job_modified:
        return RolloutPlan(
            "restart",
            f"run {run['Id']} started {run['StartedOn'].isoformat()}, before the job changed "
            f"{job_modified.isoformat()}",
            run["Id"],
        )
    return RolloutPlan("none", f"run {run['Id']} runs the current definition", run["Id"])


def _plan(glue: Any, job_name: str) -> RolloutPlan:
    job = glue.get_job(JobName=job_name)["Job"]
    runs = glue.get_job_runs(JobName=job_name, MaxResults=10)["JobRuns"]
    return plan_rollout(job.get("LastModifiedOn"), runs)


def ensure_current(
    glue: Any,
    job_name: str,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Start the job, or stop a stale run and start it again, before ``deadline`` (``time.monotonic()``).

    Returns what was done. When the stale run has not stopped by the deadline, the next scheduled call
    starts the job (a stopping run counts as active, so nothing starts twice).
    """
    plan = _plan(glue, job_name)
    if plan.action == "restart" and plan.run_id:
        glue.batch_stop_job_run(JobName=job_name, JobRunIds=[plan.run_id])
        while time.monotonic() + POLL_S < deadline:
            state = glue.get_job_run(JobName=job_name, RunId=plan.run_id)["JobRun"]["JobRunState"]
            if state not in ACTIVE_STATES:
                break
            sleep(POLL_S)
        else:
            return f"stop requested ({plan.reason}); the keep-alive starts the job once the run has stopped"
        plan = _plan(glue, job_name)
    if plan.action == "start":
        run_id = glue.start_job_run(JobName=job_name)["JobRunId"]
        return f"started run {run_id} ({plan.reason})"
    return f"{plan.action}: {plan.reason}"


def stop_active(glue: Any, job_name: str) -> str:
    """Stop every active run (the stack is deleting the job); does not wait."""
    runs = glue.get_job_runs(JobName=job_name, MaxResults=10)["JobRuns"]
    ids = [r["Id"] for r in runs if r.get("JobRunState") in ACTIVE_STATES - {"STOPPING"}]
    if ids:
        glue.batch_stop_job_run(JobName=job_name, JobRunIds=ids)
    return f"stop requested for {ids}" if ids else "no active run"
