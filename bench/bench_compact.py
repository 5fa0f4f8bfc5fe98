"""Compaction benchmark: one hour of raw/vehicle as the streaming job leaves it, queried before and after.

The hour is written as the job writes it at its default trigger (one file per 5 s micro-batch: 720
files), with the raw vehicle columns of the contract and ``--rows`` rows per second of event time. The
same DuckDB query (what a dashboard asks of an hour: rows, distinct vehicles, mean speed per direction)
runs over the hour's glob ``--repeat`` times before and after ``smartcity compact``'s code compacts it;
the medians and their ratio are printed, and the compaction's own time. Last line: JSON for scripts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smartcity.compaction.run import compact_lake
from smartcity.config import Stream, StreamSettings
from smartcity.contract import arrow_schema, raw_columns
from smartcity.stream.state_version import VERSIONS_DIR, StateVersion, WatermarkClock
from smartcity.stream.stepid import StepId

HOUR = datetime(2025, 6, 1, 8, tzinfo=UTC)
QUERY = (
    "select direction, count(*), count(distinct device_id), round(avg(speed), 6) "
    "from read_parquet('{glob}', hive_partitioning=true) group by direction order by direction"
)


def micro_batch(rng: np.random.Generator, start: datetime, seconds: int, rate: int, offset: int) -> pa.Table:
    """``seconds`` of vehicle rows at ``rate`` rows/s, in the raw table's columns."""
    n = seconds * rate
    times = [
        start + timedelta(microseconds=int(us)) for us in sorted(rng.integers(0, seconds * 1_000_000, n))
    ]
    devices = rng.integers(0, 2_000, n)
    directions = np.array(
        ["North", "North-East", "East", "South-East", "South", "South-West", "West", "North-West"]
    )
    data = {
        "id": [f"{offset + i:032x}" for i in range(n)],
        "device_id": [f"vehicle-{d:05d}" for d in devices],
        "event_time": times,
        "latitude": rng.uniform(51.4, 51.6, n),
        "longitude": rng.uniform(-0.3, 0.1, n),
        "cell_id": [f"{int(d) % 40}_{int(d) % 7}" for d in devices],
        "speed": rng.uniform(0, 120, n),
        "direction": directions[rng.integers(0, 8, n)].tolist(),
        "make": ["Ford"] * n,
        "model": ["Focus"] * n,
        "year": rng.integers(2000, 2025, n).astype("int32"),
        "fuel_type": ["Petrol"] * n,
        "kafka_partition": rng.integers(0, 3, n).astype("int32"),
        "kafka_offset": np.arange(offset, offset + n, dtype="int64"),
        "ingest_time": [t + timedelta(seconds=2) for t in times],
    }
    return pa.table(data, schema=arrow_schema(raw_columns(Stream.VEHICLE)))


def build(root: Path, trigger_s: int, rate: int) -> tuple[Path, Path, Path]:
    lake, checkpoint = root / "lake", root / "checkpoint"
    folder = lake / "raw" / "vehicle" / f"dt={HOUR:%Y-%m-%d}" / f"hour={HOUR:%H}"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    steps = 3600 // trigger_s
    for b in range(steps):
        rows = micro_batch(
            rng, HOUR + timedelta(seconds=b * trigger_s), trigger_s, rate, b * trigger_s * rate
        )
        pq.write_table(rows, folder / f"part-{StepId(b).key}-0.snappy.parquet", compression="snappy")
    versions = checkpoint / VERSIONS_DIR
    versions.mkdir(parents=True)
    later = HOUR + timedelta(hours=2)
    (versions / f"{StepId(steps).key}.json").write_text(
        StateVersion(StepId(steps), WatermarkClock(later, later)).to_json()
    )
    return lake, checkpoint, folder


def timed_queries(glob: str, repeat: int) -> tuple[float, list]:
    db = duckdb.connect()
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = db.execute(QUERY.format(glob=glob)).fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    defaults = StreamSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100, help="vehicle rows per second of event time")
    parser.add_argument(
        "--trigger", type=int, default=int(defaults.trigger_interval_s), help="seconds per file"
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-compact-"))
    try:
        lake, checkpoint, folder = build(root, args.trigger, args.rows)
        glob = f"{folder}/*.parquet"
        files_before = len(list(folder.glob("*.parquet")))
        bytes_before = sum(p.stat().st_size for p in folder.glob("*.parquet"))
        before, result_before = timed_queries(glob, args.repeat)
        t0 = time.perf_counter()
        compact_lake(
            lake,
            checkpoint,
            watermark_delay_s=defaults.watermark_delay_s,
            dedup_horizon_s=defaults.dedup_horizon_s,
            target_file_bytes=128 * 1024 * 1024,
        )
        compaction_s = time.perf_counter() - t0
        files_after = len(list(folder.glob("*.parquet")))
        bytes_after = sum(p.stat().st_size for p in folder.glob("*.parquet"))
        after, result_after = timed_queries(glob, args.repeat)
        if result_after != result_before:
            raise SystemExit("the compacted hour answers differently")
        rows = 3600 * args.rows
        print(f"one hour of raw/vehicle: {rows:,} rows")
        print(
            f"before: {files_before} files, {bytes_before / 1e6:.1f} MB, query median {before * 1000:.0f} ms"
        )
        print(f"after:  {files_after} files, {bytes_after / 1e6:.1f} MB, query median {after * 1000:.0f} ms")
        print(f"query speed-up: {before / after:.1f}x; compaction of the hour took {compaction_s:.1f} s")
        print(
            json.dumps(
                {
                    "rows": rows,
                    "files_before": files_before,
                    "files_after": files_after,
                    "mb_before": round(bytes_before / 1e6, 1),
                    "mb_after": round(bytes_after / 1e6, 1),
                    "query_ms_before": round(before * 1000, 1),
                    "query_ms_after": round(after * 1000, 1),
                    "speedup": round(before / after, 2),
                    "compaction_s": round(compaction_s, 2),
                }
            )
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
