"""The demo's anomaly section: the anomalies table read from the lake as a listing reader sees it, scored."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from smartcity.anomaly.rules import ANOMALY_KINDS, DEVICE_SILENT
from smartcity.anomaly.scoring import score_manifests
from smartcity.catalog.lake_files import open_lake_files
from smartcity.config import Settings
from smartcity.demo.anomalies import raised_anomalies, scores_table
from testdata.synthetic_lake import write_synthetic_lake

pytestmark = pytest.mark.unit


def test_the_lakes_flags_scored_against_a_manifest_that_injected_some_of_them(tmp_path: Path) -> None:
    lake = write_synthetic_lake(tmp_path / "lake", vehicle_events=1_000, hours=2, tables=("anomalies",))
    settings = Settings(profile="local", lake_uri=(tmp_path / "lake").as_uri(), aws_endpoint_url="")
    rows = raised_anomalies(open_lake_files(settings))
    assert len(rows) == lake.rows["anomalies"] and {r["rule"] for r in rows} == set(ANOMALY_KINDS)
    # Ground truth: every other flagged event was injected; silences as one-second gaps around the flag.
    injected = []
    for r in rows[::2]:
        at = r["event_time"].isoformat()
        silence = r["rule"] == DEVICE_SILENT
        injected.append(
            {
                "kind": r["rule"],
                "device_id": r["device_id"],
                "event_id": r["event_id"],
                "related_event_ids": [],
                "start": at if silence else None,
                "end": at if silence else None,
            }
        )
    scores = score_manifests(rows, [{"anomalies": injected}])
    assert sum(s.true_positives for s in scores.values()) == len(injected)
    assert sum(s.false_positives for s in scores.values()) == len(rows) - len(injected)
    console = Console(record=True, width=140)
    console.print(scores_table(scores))
    text = console.export_text()
    assert all(kind in text for kind in ANOMALY_KINDS)
