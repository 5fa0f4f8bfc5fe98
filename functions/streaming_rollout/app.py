"""Streaming job rollout and keep-alive: the job runs, and runs the current definition.

Two triggers, one decision (``smartcity.orchestrate.rollout``):
- the ``StreamingJobRollout`` custom resource, whose properties name the job and every artifact the job
  runs from, so CloudFormation invokes it on the first deploy and whenever a deploy changes one of them:
  a stale run is stopped and the job started again, before CloudFormation is answered;
  on Delete the job's runs are stopped, so a stack deletion does not leave a run behind;
- an EventBridge schedule (the keep-alive): starts the job when no run is active and restarts a run that
  began before the job's last change (a deploy that changed only the script).
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartcity.orchestrate.custom_resource import answer_reserve, deadline_of, run
from smartcity.orchestrate.rollout import ensure_current, stop_active

logger = Logger()


def _work(event: dict[str, Any], deadline: float) -> tuple[str, dict[str, Any]]:
    job_name = event["ResourceProperties"]["JobName"]
    glue = boto3.client("glue")
    if event["RequestType"] == "Delete":
        outcome = stop_active(glue, job_name)
    else:
        outcome = ensure_current(glue, job_name, deadline - answer_reserve(deadline))
    logger.info("streaming job rollout", extra={"job": job_name, "outcome": outcome})
    return job_name, {"Outcome": outcome[:200]}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = deadline_of(context)
    if "RequestType" in event:  # CloudFormation custom resource
        return run(
            event,
            lambda e: _work(e, deadline),
            lambda msg, exc: logger.exception(msg, extra={"error": str(exc)}),
            deadline=deadline,
        )
    job_name = os.environ["STREAMING_JOB_NAME"]
    glue = boto3.client("glue")
    outcome = ensure_current(glue, job_name, deadline - answer_reserve(deadline))
    logger.info("streaming job keep-alive", extra={"job": job_name, "outcome": outcome})
    return {"status": "ok", "outcome": outcome}
