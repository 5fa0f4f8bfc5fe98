"""The orchestration's AWS names and knobs, read from the environment variables the template sets.

Why a separate, tiny settings object instead of ``smartcity.config.Settings``: the Lambda functions only
need these few names, and each one must be provably set on the function that reads it (a consistency test
parses ``template.yaml`` against ``ENV_VARS``). Defaults exist only for knobs, never for AWS names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from smartcity.errors import UsageError
from smartcity.lake_layout import ENRICHED_TABLE
from smartcity.orchestrate.coordination import ClaimLifetime

# Every environment variable an orchestration handler may read, with the handler(s) that read it.
ENV_VARS: dict[str, str] = {
    "LAKE_BUCKET": "bucket holding the lake",
    "LAKE_PREFIX": "key prefix of the lake inside the bucket ('' or ending in '/')",
    "CRAWLER_PREFIX": "prefix of every crawler name; crawler = prefix + table with '/' and '_' as '-'",
    "STATE_TABLE": "DynamoDB table with crawl/load coordination markers",
    "LOAD_JOB_NAME": "Glue job that loads vehicle_enriched into Redshift",
    "ENRICHED_TABLE": "lake table whose successful crawl triggers the load",
    "STREAMING_JOB_NAME": "Glue streaming job (its stop is an alert)",
    "ALERT_TOPIC_ARN": "SNS topic for failure alerts",
    "STALE_AFTER_S": "a crawl or load believed in flight for longer than this is presumed lost",
    "MARKER_TTL_DAYS": "lifetime of partition and de-duplication markers",
    "RULESET_PREFIX": "prefix of every data quality ruleset name; ruleset = prefix + table as for crawlers",
    "DATA_QUALITY_ROLE_ARN": "role the Glue Data Quality evaluation runs assume",
}


def _req(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or value == "":
        raise UsageError(f"environment variable {name} is not set ({ENV_VARS[name]})")
    return value


@dataclass(frozen=True)
class LakeConfig:
    """Where the lake lives and how crawler names derive from table names."""

    bucket: str
    prefix: str
    crawler_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LakeConfig:
        env = os.environ if env is None else env
        prefix = env.get("LAKE_PREFIX", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(bucket=_req(env, "LAKE_BUCKET"), prefix=prefix, crawler_prefix=_req(env, "CRAWLER_PREFIX"))


@dataclass(frozen=True)
class CoordinationConfig:
    """Names and timings shared by the crawl and load coordinators."""

    state_table: str
    load_job_name: str
    enriched_table: str = ENRICHED_TABLE
    stale_after_s: float = 7200.0
    # Twice the functions' 60 s timeout: an unconfirmed claim this old belongs to a dead invocation.
    unconfirmed_after_s: float = 120.0
    marker_ttl_days: int = 14

    @property
    def claim_lifetime(self) -> ClaimLifetime:
        return ClaimLifetime(self.stale_after_s, self.unconfirmed_after_s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CoordinationConfig:
        env = os.environ if env is None else env
        return cls(
            state_table=_req(env, "STATE_TABLE"),
            load_job_name=_req(env, "LOAD_JOB_NAME"),
            enriched_table=env.get("ENRICHED_TABLE", cls.enriched_table),
            stale_after_s=float(env.get("STALE_AFTER_S", cls.stale_after_s)),
            marker_ttl_days=int(env.get("MARKER_TTL_DAYS", cls.marker_ttl_days)),
        )


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go and which job is the streaming one (any stop of it is a failure)."""

    topic_arn: str
    streaming_job_name: str
    state_table: str
    marker_ttl_days: int = 14

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertConfig:
        env = os.environ if env is None else env
        return cls(
            topic_arn=_req(env, "ALERT_TOPIC_ARN"),
            streaming_job_name=_req(env, "STREAMING_JOB_NAME"),
            state_table=_req(env, "STATE_TABLE"),
            marker_ttl_days=int(env.get("MARKER_TTL_DAYS", cls.marker_ttl_days)),
        )


@dataclass(frozen=True)
class QualityConfig:
    """Which rulesets to evaluate after a crawl, and as which role."""

    ruleset_prefix: str
    role_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> QualityConfig | None:
        """None without RULESET_PREFIX: a deployment without rulesets evaluates nothing after crawls
        (the template sets it; ``tests/unit/test_quality_template.py`` checks)."""
        env = os.environ if env is None else env
        if not env.get("RULESET_PREFIX"):
            return None
        return cls(ruleset_prefix=_req(env, "RULESET_PREFIX"), role_arn=_req(env, "DATA_QUALITY_ROLE_ARN"))
