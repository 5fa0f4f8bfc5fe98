"""Custom resource: publish the ``smartcity`` package (from the layer) as a zip for Glue's --extra-py-files.

Why: ``sam package`` uploads a Glue job's ``Command.ScriptLocation`` but not files named in
``DefaultArguments``. The package already ships to Lambda as ``SmartcityLayer`` (built by ``sam build``);
this function, which has that layer, zips ``/opt/python/smartcity`` reproducibly and puts it at a
content-addressed key, so every deploy that changes the package gives the jobs a new URI (no stale copy)
and there is no manual upload step. Delete keeps every object: an update that changes the package replaces
this resource and deletes the old one, while a streaming job run started before the update still reads the
old zip (its executors fetch it when they start); the objects are small and the bucket outlives the stack.

The package's compiled dependencies (pydantic-core) cannot ride in ``--extra-py-files``, and installing
them from PyPI at job start needs internet the jobs' private subnets do not have. So when the resource
names ``WheelsLayerVersion``, the function also zips the ``GlueWheelsLayer`` folder
``/opt/glue-wheels/wheels`` (the wheels plus requirements.txt, built by ``sam build``) into Glue 5's
"zip of wheels" for ``--additional-python-modules`` and returns its URI as ``Modules``. That key is
content-addressed too.

Every download has a deadline taken from the Lambda context, and ``run`` answers FAILED before the
function's own timeout if the jar host is slow, so CloudFormation never waits for ``ServiceTimeout``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartcity.orchestrate.custom_resource import (
    answer_reserve,
    deadline_of,
    fetch_verified,
    library_key,
    package_zip,
    run,
)

logger = Logger()
PACKAGE_DIR = Path(os.environ.get("SMARTCITY_PACKAGE_DIR", "/opt/python/smartcity"))
WHEELS_DIR = Path(os.environ.get("GLUE_WHEELS_DIR", "/opt/glue-wheels/wheels"))


def wheels_zip(wheels_dir: Path) -> bytes:
    """Glue's zip of wheels (``wheels/requirements.txt`` + ``wheels/*.whl``); refuses an incomplete folder."""
    requirements = wheels_dir / "requirements.txt"
    if not requirements.is_file() or not any(wheels_dir.glob("*.whl")):
        raise FileNotFoundError(
            f"{wheels_dir} has no requirements.txt and wheels: is GlueWheelsLayer attached?"
        )
    return package_zip(wheels_dir, must_hold="*.whl")  # entries relative to the parent: wheels/...


def wheels_key(prefix: str, data: bytes) -> str:
    """Content-addressed, with the ``.gluewheels.zip`` suffix Glue recognises as a zip of wheels."""
    return f"{prefix}deps-{hashlib.sha256(data).hexdigest()[:16]}.gluewheels.zip"


def _work(event: dict[str, Any], deadline: float) -> tuple[str, dict[str, Any]]:
    props = event["ResourceProperties"]
    bucket, prefix = props["Bucket"], props.get("Prefix", "")
    if event["RequestType"] == "Delete":
        return event.get("PhysicalResourceId", ""), {}
    # Both zips are built before any download: a missing layer fails at once, with its reason.
    data = package_zip(PACKAGE_DIR)
    wheels = wheels_zip(WHEELS_DIR) if props.get("WheelsLayerVersion") else None
    s3 = boto3.client("s3")
    jars = []
    for url in props.get("Jars", []):
        # Jars the Glue jobs need that Glue does not ship (the MSK IAM login module), from Maven Central,
        # checksum-verified, at a key named after the artifact (versioned names never change content).
        jar_key = f"{prefix}jars/{url.rsplit('/', 1)[-1]}"
        s3.put_object(
            Bucket=bucket,
            Key=jar_key,
            Body=fetch_verified(url, deadline - answer_reserve(deadline)),
            ContentType="application/java-archive",
        )
        jars.append(f"s3://{bucket}/{jar_key}")
    key = library_key(prefix, data)
    s3.put_object(
        Bucket=bucket, Key=key, Body=data, ContentType="application/zip", ServerSideEncryption="AES256"
    )
    uri = f"s3://{bucket}/{key}"
    logger.info("library published", extra={"uri": uri, "bytes": len(data)})
    out = {"Uri": uri, "Jars": ",".join(jars)}
    if wheels is not None:
        wkey = wheels_key(prefix, wheels)
        s3.put_object(
            Bucket=bucket, Key=wkey, Body=wheels, ContentType="application/zip", ServerSideEncryption="AES256"
        )
        out["Modules"] = f"s3://{bucket}/{wkey}"
        logger.info("glue wheels published", extra={"uri": out["Modules"], "bytes": len(wheels)})
    return uri, out


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = deadline_of(context)
    return run(
        event,
        lambda e: _work(e, deadline),
        lambda msg, exc: logger.exception(msg, extra={"error": str(exc)}),
        deadline=deadline,
    )
