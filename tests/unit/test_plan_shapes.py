"""The stream job's plans keep one shape whatever the data: adaptive execution may not drop a branch that
turns out empty at run time (a new shape compiles its generated code again)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from smartcity.stream.job import EXCLUDED_ADAPTIVE_RULES, keep_plan_shapes

pytestmark = pytest.mark.unit

CONF = "spark.sql.adaptive.optimizer.excludedRules"


@pytest.fixture
def session(spark: SparkSession) -> Iterator[SparkSession]:
    """The shared session, its excluded rules restored afterwards."""
    before = spark.conf.get(CONF, None)
    spark.conf.unset(CONF)
    yield spark
    if before is None:
        spark.conf.unset(CONF)
    else:
        spark.conf.set(CONF, before)


def _final_plan(df: DataFrame) -> str:
    """The physical plan adaptive execution ended with, once the query has run."""
    df.collect()
    adaptive = df._jdf.queryExecution().executedPlan()
    assert adaptive.nodeName() == "AdaptiveSparkPlan"
    return adaptive.executedPlan().toString()


def _union_with_a_branch_empty_at_run_time(spark: SparkSession) -> DataFrame:
    """Two aggregations behind shuffles; the second's input is empty only once it has run."""
    ids = spark.range(100)
    full = ids.groupBy((F.col("id") % 3).alias("k")).count()
    empty = ids.where(F.col("id") > 1_000).groupBy((F.col("id") % 3).alias("k")).count()
    return full.unionByName(empty)


def test_adaptive_execution_drops_an_empty_branch_unless_the_job_keeps_plan_shapes(session: SparkSession):
    assert session.conf.get("spark.sql.adaptive.enabled") == "true"
    assert "Union" not in _final_plan(_union_with_a_branch_empty_at_run_time(session))
    keep_plan_shapes(session)
    kept = _union_with_a_branch_empty_at_run_time(session)
    assert "Union" in _final_plan(kept)
    assert sorted(r["count"] for r in kept.collect()) == [33, 33, 34]


def test_keep_plan_shapes_adds_its_rules_once_beside_the_sessions_own(session: SparkSession):
    own = "org.apache.spark.sql.catalyst.optimizer.ConvertToLocalRelation"
    session.conf.set(CONF, own)
    keep_plan_shapes(session)
    keep_plan_shapes(session)
    assert session.conf.get(CONF).split(",") == [own, *EXCLUDED_ADAPTIVE_RULES]
