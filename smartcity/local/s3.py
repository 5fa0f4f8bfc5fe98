"""The lake's S3 mode on the local stack: S3A pointed at moto's S3 API, and the data bucket it writes.

Spark reads and writes ``s3a://`` (and the catalog's ``s3://`` locations) through Hadoop's S3A connector,
the connector AWS Glue 5.1 uses, with path-style requests to the configured endpoint and the placeholder
credentials of ``Settings.boto3_kwargs`` (moto accepts any key; no real credential is ever looked up).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

from smartcity.config import Settings

S3A_FILESYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"
SIMPLE_CREDENTIALS = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"


def uses_s3(settings: Settings) -> bool:
    """Whether the lake or the checkpoints live on S3 (``s3://`` or ``s3a://``)."""
    return any(urlparse(u).scheme in ("s3", "s3a") for u in (settings.lake_uri, settings.checkpoint_uri))


def s3a_options(settings: Settings) -> dict[str, str]:
    """Hadoop options for S3A: region always (without one S3A 3.x falls back to us-east-2), and locally
    moto's endpoint, path-style access and the placeholder credentials."""
    options = {
        "fs.s3a.endpoint.region": settings.aws_region,
        # The catalog's locations are s3:// (as Glue's crawler writes them): served by S3A as on Glue 5.1.
        "fs.s3.impl": S3A_FILESYSTEM,
    }
    if settings.aws_endpoint_url:
        endpoint = urlparse(settings.aws_endpoint_url)
        options |= {
            "fs.s3a.endpoint": settings.aws_endpoint_url,
            # moto serves every bucket on one host: bucket names go in the path, not the host name.
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": str(endpoint.scheme == "https").lower(),
        }
    if settings.profile == "local":
        boto = settings.boto3_kwargs()
        options |= {
            "fs.s3a.aws.credentials.provider": SIMPLE_CREDENTIALS,
            "fs.s3a.access.key": boto["aws_access_key_id"],
            "fs.s3a.secret.key": boto["aws_secret_access_key"],
        }
    return options


def spark_options(settings: Settings) -> dict[str, str]:
    """``s3a_options`` as Spark configuration (``spark.hadoop.*``); empty for a lake on local disk."""
    if not uses_s3(settings):
        return {}
    return {f"spark.hadoop.{key}": value for key, value in s3a_options(settings).items()}


def configure_session(hadoop_conf: Any, settings: Settings) -> None:
    """Apply ``s3a_options`` to a running session's Hadoop configuration (S3A reads it when a bucket's
    filesystem is first created)."""
    for key, value in s3a_options(settings).items():
        hadoop_conf.set(key, value)


def buckets(settings: Settings) -> list[str]:
    """The buckets the lake and checkpoint URIs name."""
    return sorted(
        {
            urlparse(u).netloc
            for u in (settings.lake_uri, settings.checkpoint_uri)
            if urlparse(u).scheme in ("s3", "s3a")
        }
    )


def _s3(settings: Settings) -> Any:
    return boto3.client("s3", **settings.boto3_kwargs())


def ensure_buckets(settings: Settings) -> list[str]:
    """Create the lake's and checkpoints' buckets if missing (moto keeps them in memory); returns them."""
    client = _s3(settings)
    names = buckets(settings)
    for name in names:
        try:
            kwargs: dict[str, Any] = {"Bucket": name}
            if settings.aws_region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
            client.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    return names


def delete_prefixes(settings: Settings, uris: Iterable[str]) -> int:
    """Delete every object under the given ``s3://``/``s3a://`` URIs; returns how many were deleted."""
    client = _s3(settings)
    deleted = 0
    for uri in uris:
        parsed = urlparse(uri)
        prefix = parsed.path.strip("/")
        prefix = prefix + "/" if prefix else ""
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc, Prefix=prefix)
        try:
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=parsed.netloc, Delete={"Objects": keys, "Quiet": True})
                    deleted += len(keys)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchBucket":
                raise
    return deleted
