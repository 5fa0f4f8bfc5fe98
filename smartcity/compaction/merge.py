"""The rewrite itself, shared by the local and the S3 compaction: input files in order → output files."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def write_merged(
    sources: Sequence[str], destinations: Sequence[str], filesystem: pafs.FileSystem | None = None
) -> int:
    """Concatenate ``sources`` (in this order) into ``destinations`` (rows split evenly); returns the rows.

    The rows written are read back from the outputs' footers and must equal the rows read: a mismatch
    raises before anything else of the compaction happens.
    """
    tables = [pq.ParquetFile(s, filesystem=filesystem).read() for s in sources]
    merged = pa.concat_tables(tables, promote_options="default")
    per_file = -(-merged.num_rows // len(destinations))
    for k, dest in enumerate(destinations):
        pq.write_table(
            merged.slice(k * per_file, per_file), dest, filesystem=filesystem, compression="snappy"
        )
    written = sum(pq.ParquetFile(d, filesystem=filesystem).metadata.num_rows for d in destinations)
    if written != merged.num_rows:
        raise RuntimeError(f"wrote {written} rows of {merged.num_rows} into {destinations[0]}…")
    return merged.num_rows
