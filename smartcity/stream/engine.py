"""What a step costs Spark itself: jobs run and classes compiled by code generation, read from the JVM.

A steady step should reuse the code Spark generated for the previous one (a new class costs a Janino
compile and then JIT work), and every Spark job has a fixed scheduling cost, so the job reports both per
step. Both counters are the driver JVM's, which in local mode also runs the executors.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession


@dataclass(frozen=True)
class EngineCounts:
    """Cumulative counters of one SparkContext; subtract two snapshots for what happened in between."""

    jobs: int  # Spark jobs submitted (the scheduler's next job id)
    generated_classes: int  # code generation compiles (each is a miss of Spark's generated-code cache)

    def __sub__(self, earlier: EngineCounts) -> EngineCounts:
        return EngineCounts(self.jobs - earlier.jobs, self.generated_classes - earlier.generated_classes)


def engine_counts(spark: SparkSession) -> EngineCounts:
    """The context's counters now (``CodegenMetrics`` is the compile histogram Spark itself keeps)."""
    jvm = spark.sparkContext._jvm
    context = spark.sparkContext._jsc.sc()  # type: ignore[union-attr]
    compiles = jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()  # type: ignore[union-attr]
    jobs = int(context.dagScheduler().nextJobId())
    return EngineCounts(jobs=jobs, generated_classes=int(compiles.getCount()))
