"""Custom resource: create the five Kafka topics on MSK Serverless.

Runs in the VPC (the brokers are reachable only there) and talks to nothing but the brokers and, for its
answer, CloudFormation's S3 URL (through the S3 gateway endpoint). The bootstrap brokers arrive as the
``BootstrapBrokers`` property, resolved outside the VPC by ``MskBootstrap`` (functions/msk_bootstrap), so
no MSK control-plane endpoint is needed inside the VPC. Topics are created with kafka-python's admin
client over SASL/OAUTHBEARER with the MSK IAM signer (pure Python: requirements.txt says why not
confluent-kafka). An unanswering broker cannot hold the stack: ``run`` answers FAILED before the
function's own timeout. Delete is a no-op: the topics go with the cluster.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartcity.orchestrate.custom_resource import deadline_of, parse_topics, plan_topics, run, seconds_left

logger = Logger()


def _admin(bootstrap: str, region: str, deadline: float) -> Any:
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
        request_timeout_ms=int(min(60.0, seconds_left(deadline)) * 1000),
    )


def _existing(admin: Any) -> dict[str, int]:
    """Partition count of every topic (describe_topics returns one dict per topic)."""
    out: dict[str, int] = {}
    for t in admin.describe_topics():
        name = t.get("name") or t.get("topic")
        if name:
            out[str(name)] = len(t.get("partitions") or [])
    return out


def _ensure_topics(admin: Any, desired: dict[str, int], deadline: float) -> None:
    create, grow = plan_topics(desired, _existing(admin))
    if create:
        # replication_factor -1: the broker default (MSK Serverless fixes it at 3).
        spec = {t: {"num_partitions": n, "replication_factor": -1} for t, n in create.items()}
        admin.create_topics(spec, timeout_ms=int(seconds_left(deadline) * 1000), wait_for_metadata=True)
    if grow:
        admin.create_partitions(grow, timeout_ms=int(seconds_left(deadline) * 1000))
    for topic in desired:
        logger.info("topic ready", extra={"topic": topic, "partitions": desired[topic]})


def _work(event: dict[str, Any], deadline: float) -> tuple[str, dict[str, Any]]:
    props = event["ResourceProperties"]
    cluster_arn = props["ClusterArn"]
    if event["RequestType"] != "Delete":
        region = cluster_arn.split(":")[3]
        desired = parse_topics(props["Topics"])
        _ensure_topics(_admin(props["BootstrapBrokers"], region, deadline), desired, deadline)
    return f"{cluster_arn}/topics", {}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        # Never block a stack deletion on a cluster that may already be gone.
        return run(event, lambda e: (e.get("PhysicalResourceId") or "topics", {}), _log)
    deadline = deadline_of(context)
    return run(event, lambda e: _work(e, deadline), _log, deadline=deadline)


def _log(message: str, exc: Exception) -> None:
    logger.exception(message, extra={"error": str(exc)})
