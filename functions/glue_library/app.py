"""Custom resource: publish the ``smartcity`` package (from the layer) as a zip for Glue's --extra-py-files.

Why: ``sam package`` uploads a Glue job's ``Command.ScriptLocation`` but not files named in
``DefaultArguments``. The package already ships to Lambda as ``SmartcityLayer`` (built by ``sam build``);
this function, which has that layer, zips ``/opt/python/smartcity`` reproducibly and puts it at a
content-addressed key, so every deploy that changes the package gives the jobs a new URI (no stale copy)
and there is no manual upload step. Delete removes the object it created.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartcity.orchestrate.custom_resource import fetch_verified, library_key, package_zip, run

logger = Logger()
PACKAGE_DIR = Path(os.environ.get("SMARTCITY_PACKAGE_DIR", "/opt/python/smartcity"))


def _work(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    props = event["ResourceProperties"]
    bucket, prefix = props["Bucket"], props.get("Prefix", "")
    s3 = boto3.client("s3")
    if event["RequestType"] == "Delete":
        old = event.get("PhysicalResourceId", "")
        if old.startswith(f"s3://{bucket}/"):
            s3.delete_object(Bucket=bucket, Key=old[len(f"s3://{bucket}/") :])
        return old, {}
    jars = []
    for url in props.get("Jars", []):
        # Jars the Glue jobs need that Glue does not ship (the MSK IAM login module), from Maven Central,
        # checksum-verified, at a key named after the artifact (versioned names never change content).
        jar_key = f"{prefix}jars/{url.rsplit('/', 1)[-1]}"
        s3.put_object(
            Bucket=bucket, Key=jar_key, Body=fetch_verified(url), ContentType="application/java-archive"
        )
        jars.append(f"s3://{bucket}/{jar_key}")
    data = package_zip(PACKAGE_DIR)
    key = library_key(prefix, data)
    s3.put_object(
        Bucket=bucket, Key=key, Body=data, ContentType="application/zip", ServerSideEncryption="AES256"
    )
    uri = f"s3://{bucket}/{key}"
    logger.info("library published", extra={"uri": uri, "bytes": len(data)})
    return uri, {"Uri": uri, "Jars": ",".join(jars)}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, _work, lambda msg, exc: logger.exception(msg, extra={"error": str(exc)}))
