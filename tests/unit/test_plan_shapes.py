"""A step's plans keep one shape whatever its data: adaptive execution, which re-plans a query from what
its finished stages hold, is off while a step runs, and the session's own setting is back afterwards."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from smartcity.stream.job import step_sql_conf

pytestmark = pytest.mark.unit

ADAPTIVE = "spark.sql.adaptive.enabled"


def _final_plan(df: DataFrame) -> str:
    """The physical plan the query ran with (adaptive execution's last one, when it was on)."""
    df.collect()
    plan = df._jdf.queryExecution().executedPlan()
    return (plan.executedPlan() if plan.nodeName() == "AdaptiveSparkPlan" else plan).toString()


def _union_with_a_branch_empty_at_run_time(spark: SparkSession) -> DataFrame:
    """Two aggregations behind shuffles; the second's input is empty only once it has run."""
    ids = spark.range(100)
    full = ids.groupBy((F.col("id") % 3).alias("k")).count()
    empty = ids.where(F.col("id") > 1_000).groupBy((F.col("id") % 3).alias("k")).count()
    return full.unionByName(empty)


def test_a_step_keeps_the_branch_adaptive_execution_would_drop_and_restores_the_session(spark: SparkSession):
    assert spark.conf.get(ADAPTIVE) == "true"  # the session's own setting, as on Glue 5.1
    assert "Union" not in _final_plan(_union_with_a_branch_empty_at_run_time(spark))
    with step_sql_conf(spark):
        kept = _union_with_a_branch_empty_at_run_time(spark)
        assert "Union" in _final_plan(kept)
        assert sorted(r["count"] for r in kept.collect()) == [33, 33, 34]
    assert spark.conf.get(ADAPTIVE) == "true"


def test_the_session_setting_is_restored_when_a_step_fails(spark: SparkSession):
    with pytest.raises(RuntimeError), step_sql_conf(spark):
        assert spark.conf.get(ADAPTIVE) == "false"
        raise RuntimeError("the step failed")
    assert spark.conf.get(ADAPTIVE) == "true"
