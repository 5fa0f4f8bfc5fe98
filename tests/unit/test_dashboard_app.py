"""The dashboard page headless (Streamlit's AppTest) over a lake written the way the job writes it:
the figures shown equal the lake's, and no snapshot / a corrupt or half-written one never breaks it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from smartcity.config import StreamSettings
from smartcity.dashboard import app as app_module
from smartcity.stream.live import LIVE_SCHEMA, build_snapshot
from smartcity.stream.metrics import BatchMetrics
from smartcity.stream.state_version import WatermarkClock

pytestmark = pytest.mark.unit

APP = str(Path(app_module.__file__))
T0 = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
NAMES = [f.name for f in LIVE_SCHEMA.fields]


def _vehicle_rows(n: int) -> pd.DataFrame:
    t = int(T0.timestamp() * 1_000_000)
    rows = [
        {
            **dict.fromkeys(NAMES),
            "kind": "vehicle",
            "key": f"veh-{i % max(1, n // 2)}",
            "t_us": t + i,
            "id": f"e{i}",
            "latitude": 51.5 + i * 1e-4,
            "longitude": -0.1,
            "cell_id": "1030:-2",
            "speed": float(i % 80),
        }
        for i in range(n)
    ]
    return pd.DataFrame(rows, columns=NAMES)


def write_snapshot(lake: Path, vehicles: int, step: int) -> dict:
    snap = build_snapshot(
        _vehicle_rows(vehicles),
        None,
        WatermarkClock(),
        StreamSettings(),
        step=f"{step:012d}-batch",
        published_at=T0,
    )
    path = lake / "_live" / "snapshot.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snap))
    return snap


def write_steps(lake: Path, steps: int) -> None:
    totals: dict[str, int] = {}
    for b in range(steps):
        m = BatchMetrics(
            batch_id=b,
            flush=False,
            ingest_time=(T0 + timedelta(seconds=5 * b)).isoformat(),
            rows_in={"vehicle_data": 100 + b, "gps_data": 50},
            quarantined={"vehicle_data": 2},
            late={"vehicle": 1},
            duration_s=3.0,
            event_time_lag_s=1.5,
        )
        for k, v in {
            "rows_in_vehicle_data": 100 + b,
            "rows_in_gps_data": 50,
            "quarantined_vehicle_data": 2,
        }.items():
            totals[k] = totals.get(k, 0) + v
        m.totals = dict(totals)
        path = lake / "_metrics" / "stream" / f"step-{b:012d}-batch.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(m.to_json())


def write_quarantine(lake: Path) -> None:
    errors = (
        ["invalid_json: message not JSON"] * 3 + ["missing_field: speed required"] * 2 + ["out_of_range: x"]
    )
    folder = lake / "quarantine" / "dt=2026-12-01"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"error": errors[:4]}), folder / "part-000000000001-batch-00000.snappy.parquet")
    pq.write_table(pa.table({"error": errors[4:]}), folder / "part-000000000002-batch-00000.snappy.parquet")


@pytest.fixture()
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("SMARTCITY_PROFILE", "local")
    monkeypatch.setenv("SMARTCITY_LOCAL__HOME", str(tmp_path))
    monkeypatch.setenv("SMARTCITY_LAKE_URI", root.as_uri())
    monkeypatch.setenv(
        "SMARTCITY_AWS_ENDPOINT_URL", "http://127.0.0.1:9"
    )  # no API: state shown as unavailable
    monkeypatch.setenv("SMARTCITY_DASHBOARD_BASEMAP", "off")
    return root


def run(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_attr(at: AppTest, element_id: str, attr: str) -> str | None:
    for md in at.markdown:
        if f'id="{element_id}"' in md.value:
            return md.value.split(f'{attr}="', 1)[1].split('"', 1)[0]
    return None


def table_named(at: AppTest, index_name: str) -> pd.DataFrame:
    """The dataframe shown whose index is named ``index_name``."""
    frames = [d.value for d in at.dataframe if d.value.index.name == index_name]
    assert len(frames) == 1, [d.value.index.name for d in at.dataframe]
    return frames[0]


def test_no_snapshot_yet_is_a_waiting_state(lake: Path) -> None:
    at = run()
    assert any("Waiting for the stream" in i.value for i in at.info)
    assert not at.error


def test_vehicles_on_the_map_are_the_snapshots_distinct_devices(lake: Path) -> None:
    snap = write_snapshot(lake, vehicles=40, step=1)
    at = run()
    distinct = len(set(snap["vehicles"]["device_id"]))
    assert distinct == 20  # 40 events of 20 devices: one point each
    assert markdown_attr(at, "vehicle-markers", "data-count") == str(distinct)
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    layer = next(layer for layer in deck["layers"] if layer["id"] == "vehicles")
    assert len(layer["data"]) == distinct


def test_pipeline_figures_equal_the_lakes(lake: Path) -> None:
    write_snapshot(lake, vehicles=4, step=1)
    write_steps(lake, steps=5)
    write_quarantine(lake)
    at = run()
    counts = table_named(at, "topic")
    last = json.loads(sorted((lake / "_metrics" / "stream").glob("*.json"))[-1].read_text())["totals"]
    assert (
        counts.loc["vehicle_data", "messages"]
        == last["rows_in_vehicle_data"]
        == sum(100 + b for b in range(5))
    )
    assert counts.loc["vehicle_data", "quarantined"] == 10
    reasons = table_named(at, "reason")["messages"].to_dict()
    expected = dict(
        duckdb.sql(
            "select split_part(error, ':', 1), count(*) "
            f"from read_parquet('{lake}/quarantine/**/*.parquet') group by 1"
        ).fetchall()
    )
    assert reasons == expected == {"invalid_json": 3, "missing_field": 2, "out_of_range": 1}
    # Each step read 104 + b vehicle messages 5 s after the previous one; the rate shown is their mean.
    rate = float(markdown_attr(at, "events-per-second", "data-value") or 0)
    assert rate == pytest.approx((101 + 102 + 103 + 104) / 4 / 5 + 50 / 5, rel=1e-3)


@pytest.mark.parametrize(
    "bad", [b"", b'{"version": 1, "vehicles": {"device_id": ["a"', b"not json", b'{"version": 99}']
)
def test_a_corrupt_or_half_written_snapshot_keeps_the_last_good_one(lake: Path, bad: bytes) -> None:
    snap = write_snapshot(lake, vehicles=10, step=1)
    at = run()
    good = markdown_attr(at, "vehicle-markers", "data-count")
    assert good == str(len(set(snap["vehicles"]["device_id"])))
    (lake / "_live" / "snapshot.json").write_bytes(bad)
    at = run(at)
    assert markdown_attr(at, "vehicle-markers", "data-count") == good
    assert not at.error
    # Then a good one again replaces it.
    newer = write_snapshot(lake, vehicles=30, step=2)
    at = run(at)
    assert markdown_attr(at, "vehicle-markers", "data-count") == str(len(set(newer["vehicles"]["device_id"])))


def test_feeds_start_over_when_the_lake_is_cleared(lake: Path) -> None:
    import shutil

    from smartcity.dashboard.feeds import MetricsFeed, QuarantineFeed
    from smartcity.dashboard.lake_reader import LocalLakeReader

    write_steps(lake, steps=5)
    write_quarantine(lake)
    metrics, quarantine = MetricsFeed(LocalLakeReader(lake)), QuarantineFeed(LocalLakeReader(lake))
    assert len(metrics.read()) == 5 and sum(quarantine.read().values()) == 6
    shutil.rmtree(lake / "_metrics")
    shutil.rmtree(lake / "quarantine")
    write_steps(lake, steps=2)  # a new run: step names start from 0 again
    assert [s["batch_id"] for s in metrics.read()] == [0, 1]
    assert quarantine.read() == {}


def test_a_snapshot_gone_for_good_is_no_longer_shown(lake: Path) -> None:
    from smartcity.dashboard.feeds import SnapshotFeed
    from smartcity.dashboard.lake_reader import LocalLakeReader

    now = [0.0]
    feed = SnapshotFeed(LocalLakeReader(lake), clock=lambda: now[0], absent_for_s=10)
    write_snapshot(lake, vehicles=4, step=1)
    assert feed.read().snapshot is not None
    (lake / "_live" / "snapshot.json").unlink()
    assert feed.read().snapshot is not None  # an instant without it: being replaced
    now[0] = 9.0
    assert feed.read().snapshot is not None
    now[0] = 10.0
    assert feed.read().snapshot is None  # gone this long: the lake was cleared


def test_the_map_is_rebuilt_from_a_new_snapshot_only(lake: Path) -> None:
    """The city re-runs every poll interval: a poll that finds the same snapshot redraws the same deck (its
    JSON made once); a new snapshot is drawn at the next poll."""
    write_snapshot(lake, vehicles=40, step=1)
    at = run()
    drawn = at.session_state[app_module.CITY_MAP_KEY]
    json_made = drawn.deck.to_json()
    run(at)  # a poll: nothing new
    assert at.session_state[app_module.CITY_MAP_KEY] is drawn
    assert drawn.deck.to_json() is json_made
    write_snapshot(lake, vehicles=60, step=2)
    run(at)
    assert at.session_state[app_module.CITY_MAP_KEY] is not drawn
    assert markdown_attr(at, "vehicle-markers", "data-step") == "000000000002-batch"
    assert markdown_attr(at, "vehicle-markers", "data-count") == "30"
