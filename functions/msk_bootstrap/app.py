"""Custom resource: the MSK Serverless cluster's SASL/IAM bootstrap brokers (``BootstrapBrokers``).

``AWS::MSK::ServerlessCluster`` returns only its ARN, so the brokers come from ``kafka:GetBootstrapBrokers``.
This function runs outside the VPC on purpose: it reaches the MSK API at its public regional endpoint, so
the private subnets need no MSK control-plane (PrivateLink) endpoint; see docs/deploy.md. Delete is a
no-op (nothing was created).
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartcity.orchestrate.custom_resource import deadline_of, run, seconds_left

logger = Logger()


def _work(event: dict[str, Any], deadline: float) -> tuple[str, dict[str, Any]]:
    cluster_arn = event["ResourceProperties"]["ClusterArn"]
    physical_id = f"{cluster_arn}/bootstrap"
    if event["RequestType"] == "Delete":
        return physical_id, {}
    from botocore.config import Config

    wait = min(30.0, seconds_left(deadline))
    kafka = boto3.client(
        "kafka",
        region_name=cluster_arn.split(":")[3],
        config=Config(connect_timeout=wait, read_timeout=wait, retries={"max_attempts": 3}),
    )
    brokers = kafka.get_bootstrap_brokers(ClusterArn=cluster_arn)["BootstrapBrokerStringSaslIam"]
    logger.info("bootstrap brokers resolved", extra={"brokers": brokers})
    return physical_id, {"BootstrapBrokers": brokers}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = deadline_of(context)
    return run(
        event,
        lambda e: _work(e, deadline),
        lambda msg, exc: logger.exception(msg, extra={"error": str(exc)}),
        deadline=deadline,
    )
