"""Rows meet a step's bounds (the one-row frame of the step's instants, ``step.bounds_frame``) by a join,
never by literals, so the plans over them stay the same from step to step and stay compiled."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame


def with_bounds(df: DataFrame, bounds: DataFrame) -> DataFrame:
    """``df`` with the bounds' columns on every row. A nested-loop product without broadcast: a broadcast
    costs a Spark job of its own each time, and the one-row side needs no exchange at all."""
    return df.crossJoin(bounds.hint("shuffle_replicate_nl"))


def where_bounded(df: DataFrame, bounds: DataFrame, condition: Column) -> DataFrame:
    """``df``'s rows for which ``condition`` (over ``df``'s and the bounds' columns) holds."""
    # One join with the condition (not a product, then a filter): each DataFrame built costs an analysis.
    return df.join(bounds.hint("shuffle_replicate_nl"), on=condition, how="inner").select(*df.columns)
