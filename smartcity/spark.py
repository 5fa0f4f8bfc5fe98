"""The local SparkSession: PySpark with the real Kafka connector and the JDBC driver from the jar cache.

On AWS Glue the session comes from GlueContext and none of this runs; locally it is the only place a
session is built, so tests, the stream job and the loader share one configuration.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from pyspark.sql import SparkSession

from smartcity.config import Settings
from smartcity.local import jvm, s3

# Spark's default of 200 shuffle partitions costs more in task overhead than it parallelises on a few
# cores; the value is frozen into a streaming checkpoint at its first run, so it is set here.
DEFAULT_SHUFFLE_PARTITIONS = 4
# -XX:-DontCompileHugeMethods: HotSpot never JIT-compiles a method over 8,000 bytes of bytecode, and code
# Spark generates for wide projections can be larger than that and run interpreted (docs/decisions/0004).
# On AWS Glue the JVM's options are Glue's.
# Spark's cache of compiled generated classes (default 100): a step of the stream job generates more
# distinct classes than that, so with the default every step evicted and recompiled the previous one's.
CODEGEN_CACHE_ENTRIES = 2000
JAVA_OPTIONS = "-Duser.timezone=UTC -XX:-DontCompileHugeMethods"
# Spark's log configuration with the per-record Kafka consumer warning silenced (the file says why).
LOG4J2_CONFIG = resources.files("smartcity") / "log4j2.properties"


def local_session(
    app_name: str = "smartcity",
    *,
    master: str | None = None,
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS,
    extra_conf: dict[str, str] | None = None,
    warehouse_dir: Path | None = None,
    settings: Settings | None = None,
) -> SparkSession:
    """Get or create the local session, all timestamps in UTC (the lake's partitions are UTC).

    S3A is always on the classpath, as on AWS Glue 5.1; ``settings`` with a lake or checkpoints on S3 also
    point it at their endpoint (``smartcity.local.s3``).
    """
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", _python()))
    jars = ",".join(str(p) for p in jvm.spark_extra_jars())
    # On the driver's own classpath, not in spark.jars: local executors share the driver's JVM, and
    # spark.jars would be copied into every session's work directory (the AWS SDK bundle is 280 MB).
    driver_classpath = os.pathsep.join(str(p) for p in jvm.spark_extra_jars("s3a"))
    java_options = f"{JAVA_OPTIONS} -Dlog4j2.configurationFile={LOG4J2_CONFIG}"
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master or os.environ.get("SMARTCITY_SPARK_MASTER", "local[2]"))
        .config("spark.jars", jars)
        .config("spark.driver.extraClassPath", driver_classpath)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.codegen.cache.maxEntries", str(CODEGEN_CACHE_ENTRIES))
        .config("spark.ui.enabled", "false")
        # Progress bars only for a person at a terminal; in logs they are megabytes of noise.
        .config("spark.ui.showConsoleProgress", "true" if sys.stderr.isatty() else "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.streaming.forceDeleteTempCheckpointLocation", "true")
        # Adaptive query execution on, as on AWS Glue 5.1 (Spark's default): it changes batch plans (join
        # strategy, shuffle partitions), so local runs plan as Glue does. Spark disables it in micro-batches.
        .config("spark.sql.adaptive.enabled", "true")
    )
    if warehouse_dir is not None:
        builder = builder.config("spark.sql.warehouse.dir", str(warehouse_dir))
    s3_conf = s3.spark_options(settings) if settings is not None else {}
    for key, value in {**s3_conf, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    if s3_conf and settings is not None:  # a session that already existed gets the options as well
        s3.configure_session(session.sparkContext._jsc.hadoopConfiguration(), settings)  # type: ignore[union-attr]
    return session


def _python() -> str:
    return sys.executable
