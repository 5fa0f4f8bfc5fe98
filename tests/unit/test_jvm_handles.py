"""The remembered JVM function handles build the same expressions with fewer calls into the JVM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from py4j import clientserver
from pyspark.sql import Column
from pyspark.sql import functions as F

from smartcity.stream import jvm_handles

pytestmark = [pytest.mark.unit, pytest.mark.spark]


@contextmanager
def jvm_calls() -> Iterator[list[int]]:
    """Counts the Py4J commands sent while the block runs (``[n]`` once it has run)."""
    sent = [0]
    original = clientserver.JavaClient.send_command

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        return original(self, *args, **kwargs)

    clientserver.JavaClient.send_command = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        clientserver.JavaClient.send_command = original  # type: ignore[method-assign]


def expression() -> Column:
    """A bit of everything a step builds: names, literals, functions, a comparison with a literal."""
    return F.when(F.upper(F.col("name")) == "A", F.lit(1)).otherwise(F.coalesce(F.col("n"), F.lit(0)))


def built(make: Callable[[], Column]) -> tuple[str, int]:
    with jvm_calls() as sent:
        column = make()
    return str(column), sent[0]


def test_same_expression_with_about_half_the_calls(spark) -> None:
    jvm_handles.uninstall()  # a stream job built earlier in this process installed them
    plain, plain_calls = built(expression)

    assert jvm_handles.install() is True
    built(expression)  # the first build looks the handles up
    cached, cached_calls = built(expression)

    assert cached == plain
    assert cached_calls < 0.6 * plain_calls, (cached_calls, plain_calls)
    df = spark.createDataFrame([("a", None), ("b", 5)], "name string, n int")
    assert [r[0] for r in df.select(expression()).collect()] == [1, 5]


def test_handles_follow_the_context(spark) -> None:
    jvm_handles.function_handle("upper", spark.sparkContext)
    assert jvm_handles._current is not None and jvm_handles._current.context is spark.sparkContext

    class OtherContext:  # what a new SparkContext looks like to the cache: another object, its own JVM view
        _jvm = spark.sparkContext._jvm

    other = OtherContext()
    jvm_handles.function_handle("upper", other)  # type: ignore[arg-type]
    assert jvm_handles._current.context is other
    jvm_handles.function_handle("upper", spark.sparkContext)
    assert jvm_handles._current.context is spark.sparkContext
