"""Custom resource: create the five Kafka topics on MSK Serverless and return its bootstrap brokers.

``AWS::MSK::ServerlessCluster`` exposes only its ARN (no bootstrap-broker attribute), so the brokers come from
``kafka:GetBootstrapBrokers``; topics are created with kafka-python's admin client over SASL/OAUTHBEARER
with the MSK IAM signer (pure Python: requirements.txt says why not confluent-kafka). Runs in the VPC.
Delete is a no-op: the topics go with the cluster.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartcity.orchestrate.custom_resource import parse_topics, plan_topics, run

logger = Logger()


def _admin(bootstrap: str, region: str) -> Any:
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
    from kafka.admin import KafkaAdminClient
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class _IamToken(AbstractTokenProvider):
        def token(self) -> str:
            token, _expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
            return str(token)

    return KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","),
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=_IamToken(),
        client_id="smartcity-msk-topics",
        request_timeout_ms=60000,
    )


def _existing(admin: Any) -> dict[str, int]:
    """Partition count of every topic (describe_topics returns one dict per topic)."""
    out: dict[str, int] = {}
    for t in admin.describe_topics():
        name = t.get("name") or t.get("topic")
        if name:
            out[str(name)] = len(t.get("partitions") or [])
    return out


def _ensure_topics(admin: Any, desired: dict[str, int]) -> None:
    create, grow = plan_topics(desired, _existing(admin))
    if create:
        # replication_factor -1: the broker default (MSK Serverless fixes it at 3).
        spec = {t: {"num_partitions": n, "replication_factor": -1} for t, n in create.items()}
        admin.create_topics(spec, timeout_ms=60000, wait_for_metadata=True)
    if grow:
        admin.create_partitions(grow, timeout_ms=60000)
    for topic in desired:
        logger.info("topic ready", extra={"topic": topic, "partitions": desired[topic]})


def _work(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    props = event["ResourceProperties"]
    cluster_arn = props["ClusterArn"]
    physical_id = f"{cluster_arn}/topics"
    kafka = boto3.client("kafka")
    brokers = kafka.get_bootstrap_brokers(ClusterArn=cluster_arn)["BootstrapBrokerStringSaslIam"]
    if event["RequestType"] != "Delete":
        region = cluster_arn.split(":")[3]
        _ensure_topics(_admin(brokers, region), parse_topics(props["Topics"]))
    return physical_id, {"BootstrapBrokers": brokers}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        # Never block a stack deletion on a cluster that may already be gone.
        return run(event, lambda e: (e.get("PhysicalResourceId") or "topics", {}), _log)
    return run(event, _work, _log)


def _log(message: str, exc: Exception) -> None:
    logger.exception(message, extra={"error": str(exc)})
