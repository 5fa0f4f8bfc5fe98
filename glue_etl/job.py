"""AWS Glue (glueetl) entry: the lake, through the Data Catalog, into Redshift Serverless.

Thin by design: arguments and Glue plumbing here, the transformation in ``smartcity.warehouse.transform``
(the exact functions ``smartcity load`` runs locally), the MERGE SQL in ``smartcity.warehouse.merge``.

- Incremental: ``create_dynamic_frame.from_catalog`` with a ``transformation_ctx`` per source and the job
  run with ``--job-bookmark-option job-bookmark-enable``: Glue hands over only files not processed by a
  previous successful run, and ``job.commit()`` advances the bookmark after every write succeeded. A crash
  before the commit makes the next run read the same files again; the MERGE makes that harmless.
- Idempotent: each target is written with Glue's Redshift connection (the admin secret from Secrets
  Manager is referenced by the Glue connection, never by this script) into a staging table through the S3
  temp dir; ``preactions`` create/empty the staging table and ``postactions`` delete unchanged rows and
  MERGE on the key, so re-running any load or loading overlapping files never duplicates a row.
See glue_etl/ARGS.md for the exact arguments.
"""

from __future__ import annotations

import sys
import time

from smartcity.warehouse import merge
from smartcity.warehouse.load_map import SOURCES

ARGUMENTS = [
    "JOB_NAME",
    "catalog_database",
    "redshift_connection",
    "redshift_database",
    "redshift_schema",
]


def actions(target: merge.Target, columns: list[str], load_id: int, schema: str) -> tuple[str, str]:
    """``preactions`` and ``postactions`` for one target: one line each, statements separated by ``;``."""
    stg = f"{schema}.{target.staging}"
    pre = [
        f"CREATE TABLE IF NOT EXISTS {stg} (LIKE {schema}.{target.table})",
        f"DELETE FROM {stg}",
    ]
    post = merge.redshift_merge(target, columns, load_id, schema)
    return ";".join(pre) + ";", ";".join(post) + ";"


def main(argv: list[str]) -> None:  # pragma: no cover - runs only inside AWS Glue
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext
    from pyspark.sql import functions as F

    args = getResolvedOptions(argv, [*ARGUMENTS, "TempDir"])
    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(args["JOB_NAME"], args)
    load_id = int(time.time() * 1000)  # one id per run; local loads use a sequence instead
    for source in SOURCES:
        frame = glue.create_dynamic_frame.from_catalog(
            database=args["catalog_database"],
            table_name=source.table,
            transformation_ctx=f"src_{source.table}",
        )
        df = frame.toDF()
        if df.rdd.isEmpty():  # the bookmark says nothing is new for this source
            continue
        for target, rows in source.build(df, True).items():
            # Redshift's CREATE TABLE ... LIKE keeps NOT NULL on load_id, so staging rows carry it.
            out = rows.withColumn("load_id", F.lit(load_id).cast("bigint"))
            pre, post = actions(target, out.columns, load_id, args["redshift_schema"])
            glue.write_dynamic_frame.from_jdbc_conf(
                frame=DynamicFrame.fromDF(out, glue, f"out_{target.table}"),
                catalog_connection=args["redshift_connection"],
                connection_options={
                    "database": args["redshift_database"],
                    "dbtable": f"{args['redshift_schema']}.{target.staging}",
                    "preactions": pre,
                    "postactions": post,
                },
                redshift_tmp_dir=args["TempDir"],
                transformation_ctx=f"sink_{target.table}",
            )
    job.commit()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv)
