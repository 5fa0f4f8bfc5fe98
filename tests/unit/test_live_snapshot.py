"""The live snapshot's rules on hand-built rows: latest per vehicle, enrichment at the vehicle's instant,
active incidents, latest weather per cell, cameras kept across steps, and the in-partition reduction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest

from smartcity.config import StreamSettings
from smartcity.stream.live import (
    LIVE_SCHEMA,
    _latest_in_partition,
    active_incidents,
    build_snapshot,
    cell_center,
)
from smartcity.stream.state_version import WatermarkClock

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000_000  # microseconds
S = 1_000_000
NAMES = [f.name for f in LIVE_SCHEMA.fields]


def row(kind: str, key: str, t: int, id_: str, **values: object) -> dict[str, object]:
    return {**dict.fromkeys(NAMES), "kind": kind, "key": key, "t_us": t, "id": id_, **values}


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=NAMES)


def clock() -> WatermarkClock:
    return WatermarkClock(watermark=datetime.fromtimestamp(T0 / 1e6 - 20, UTC))


def snapshot(rows: pd.DataFrame, previous: dict | None = None) -> dict:
    return build_snapshot(
        rows, previous, clock(), StreamSettings(), step="000000000003-batch", published_at=datetime.now(UTC)
    )


def vehicle(key: str, t: int, id_: str, lat: float = 51.5, lon: float = -0.1, speed: float = 30.0) -> dict:
    cell = f"{int(lat // 0.05)}:{int(lon // 0.05)}"
    return row("vehicle", key, t, id_, latitude=lat, longitude=lon, cell_id=cell, speed=speed)


def test_latest_position_per_vehicle_and_previous_vehicles_kept() -> None:
    first = snapshot(frame(vehicle("a", T0, "a1", speed=10), vehicle("b", T0, "b1")))
    rows = frame(vehicle("a", T0 + 5 * S, "a2", lat=51.51, speed=50), vehicle("a", T0 + 2 * S, "a0"))
    second = snapshot(rows, previous=json.loads(json.dumps(first)))
    v = second["vehicles"]
    by = dict(zip(v["device_id"], zip(v["event_id"], v["latitude"], v["speed"], strict=True), strict=True))
    assert by == {"a": ("a2", 51.51, 50.0), "b": ("b1", 51.5, 30.0)}


def test_vehicles_older_than_the_dedup_horizon_leave_the_map() -> None:
    horizon = int(StreamSettings().dedup_horizon_s * S)
    first = snapshot(frame(vehicle("old", T0, "o1")))
    second = snapshot(frame(vehicle("new", T0 + horizon + S, "n1")), previous=first)
    assert second["vehicles"]["device_id"] == ["new"]


def test_enrichment_at_the_vehicles_instant() -> None:
    cell = f"{int(51.5 // 0.05)}:{int(-0.1 // 0.05)}"
    rows = frame(
        vehicle("a", T0, "a1", lat=51.5, lon=-0.1),
        vehicle("far", T0, "f1", lat=52.5, lon=-0.1),
        row(
            "weather",
            cell,
            T0 - 60 * S,
            "w1",
            cell_id=cell,
            condition="Rain",
            temperature=4.0,
            precipitation=2.5,
        ),
        row(
            "weather",
            cell,
            T0 + 60 * S,
            "w2",
            cell_id=cell,
            condition="Sunny",
            temperature=9.0,
            precipitation=0.0,
        ),
        row(
            "incident",
            "inc-1",
            T0 - 10 * S,
            "e1",
            latitude=51.505,
            longitude=-0.1,
            type="Fire",
            status="Active",
        ),
    )
    v = snapshot(rows)["vehicles"]
    by = {d: (w, i) for d, w, i in zip(v["device_id"], v["weather_condition"], v["incident_id"], strict=True)}
    # The report after the vehicle's instant does not count for it; the far vehicle has no incident near.
    assert by == {"a": ("Rain", "inc-1"), "far": (None, None)}
    km = v["incident_km"][v["device_id"].index("a")]
    assert km == pytest.approx(0.556, abs=0.001)


def test_weather_layer_is_the_latest_report_per_cell_at_its_centre() -> None:
    rows = frame(
        row(
            "weather",
            "1030:-2",
            T0,
            "w1",
            cell_id="1030:-2",
            condition="Rain",
            temperature=4.0,
            precipitation=1.0,
        ),
        row(
            "weather",
            "1030:-2",
            T0 + S,
            "w2",
            cell_id="1030:-2",
            condition="Snow",
            temperature=0.0,
            precipitation=3.0,
        ),
    )
    w = snapshot(rows)["weather"]
    assert w["cell_id"] == ["1030:-2"] and w["condition"] == ["Snow"] and w["precipitation"] == [3.0]
    assert (w["latitude"][0], w["longitude"][0]) == pytest.approx(cell_center("1030:-2", 0.05))
    assert cell_center("1030:-2", 0.05) == pytest.approx((51.525, -0.075))


def test_active_incidents_follow_the_enrichment_rule() -> None:
    window = 30 * 60 * S
    reports = frame(
        row("incident", "open", T0, "1", status="Active"),
        row("incident", "closed", T0, "2", status="Active"),
        row("incident", "closed", T0 + S, "3", status="Resolved"),
        row("incident", "same-instant", T0, "4", status="Active"),
        row("incident", "same-instant", T0, "5", status="Resolved"),
        row("incident", "stale", T0 - window - S, "6", status="Active"),
        row("incident", "future", T0 + 10 * S, "7", status="Active"),
    )
    active = active_incidents(reports, T0 + 2 * S, window)
    assert sorted(active["key"]) == ["open"]


def test_cameras_keep_their_last_report_across_steps() -> None:
    first = snapshot(frame(row("camera", "cam-1", T0, "c1", latitude=51.5, longitude=-0.12)))
    second = snapshot(
        frame(row("camera", "cam-2", T0 + S, "c2", latitude=51.6, longitude=-0.13)), previous=first
    )
    assert second["cameras"]["camera_id"] == ["cam-1", "cam-2"]


def test_snapshot_carries_the_steps_clock() -> None:
    snap = snapshot(frame(vehicle("a", T0, "a1")))
    assert snap["clock"] == {"watermark": clock().watermark.isoformat(), "max_event_time": None}
    assert snap["now_ms"] == T0 // 1000
    assert snap["step"] == "000000000003-batch"


def test_now_is_the_clocks_newest_event_time_when_it_is_later_than_the_rows() -> None:
    newest = datetime.fromtimestamp((T0 + 5 * S) / 1e6, UTC)
    snap = build_snapshot(
        frame(vehicle("a", T0, "a1")),
        None,
        WatermarkClock(max_event_time=newest),
        StreamSettings(),
        step="000000000003-batch",
        published_at=datetime.now(UTC),
    )
    assert snap["now_ms"] == (T0 + 5 * S) // 1000
    assert snap["clock"]["max_event_time"] == newest.isoformat()


def test_in_partition_reduction_keeps_the_newest_per_vehicle_and_every_report() -> None:
    rows = frame(
        vehicle("a", T0, "a1"),
        vehicle("a", T0 + S, "a2"),
        vehicle("b", T0, "b1"),
        row("weather", "c", T0, "w1"),
        row("weather", "c", T0 + S, "w2"),
    )
    table = pa.Table.from_pandas(rows, preserve_index=False)
    out = pa.Table.from_batches(list(_latest_in_partition(iter(table.to_batches())))).to_pandas()
    assert sorted(out[out["kind"] == "vehicle"]["id"]) == ["a2", "b1"]
    assert sorted(out[out["kind"] == "weather"]["id"]) == ["w1", "w2"]
