"""Scoring the anomalies table against the manifest: the matching rules at their edges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from smartcity.anomaly.rules import ANOMALY_KINDS, DEVICE_SILENT, GPS_JUMP, IMPOSSIBLE_SPEED, STUCK_SENSOR
from smartcity.anomaly.scoring import KindScore, score, score_manifests

pytestmark = pytest.mark.unit


def record(kind: str, device: str, event_id: str | None, **extra: Any) -> dict[str, Any]:
    base = {
        "kind": kind,
        "stream": "vehicle",
        "device_id": device,
        "event_id": event_id,
        "event_time": "2026-01-01T00:00:10+00:00",
        "related_event_ids": [],
        "start": None,
        "end": None,
    }
    return base | extra


def row(
    rule: str, device: str, event_id: str | None, at: str = "2026-01-01T00:00:10+00:00"
) -> dict[str, Any]:
    return {"rule": rule, "device_id": device, "event_id": event_id, "event_time": datetime.fromisoformat(at)}


def figures(s: KindScore) -> tuple[int, int, int]:
    return s.true_positives, s.false_positives, s.false_negatives


def test_event_kind_matches_by_rule_and_event_id() -> None:
    truth = [record(IMPOSSIBLE_SPEED, "v1", "e1"), record(IMPOSSIBLE_SPEED, "v2", "e2")]
    rows = [row(IMPOSSIBLE_SPEED, "v1", "e1"), row(IMPOSSIBLE_SPEED, "v3", "e3"), row(GPS_JUMP, "v2", "e2")]
    scores = score(rows, truth)
    assert figures(scores[IMPOSSIBLE_SPEED]) == (1, 1, 1)
    assert scores[IMPOSSIBLE_SPEED].precision == 0.5 and scores[IMPOSSIBLE_SPEED].recall == 0.5
    # The right event under the wrong rule is a false positive of that rule, not a find.
    assert figures(scores[GPS_JUMP]) == (0, 1, 0)


def test_a_jump_flagged_on_both_fixes_is_one_find_and_no_false_positive() -> None:
    truth = [record(GPS_JUMP, "v1", "away", related_event_ids=["back"])]
    for rows in (
        [row(GPS_JUMP, "v1", "away")],
        [row(GPS_JUMP, "v1", "back")],
        [row(GPS_JUMP, "v1", "away"), row(GPS_JUMP, "v1", "back")],
    ):
        assert figures(score(rows, truth)[GPS_JUMP]) == (1, 0, 0)


def test_every_report_of_a_stuck_run_counts_for_the_run() -> None:
    truth = [record(STUCK_SENSOR, "s1", "r5", related_event_ids=["r1", "r2", "r3", "r4", "r5", "r6"])]
    rows = [row(STUCK_SENSOR, "s1", "r5"), row(STUCK_SENSOR, "s1", "r6"), row(STUCK_SENSOR, "s1", "r7")]
    assert figures(score(rows, truth)[STUCK_SENSOR]) == (1, 1, 0)


@pytest.mark.parametrize(
    ("at", "found"),
    [
        ("2026-01-01T00:01:00+00:00", True),  # the last report before the silence
        ("2026-01-01T00:03:00+00:00", True),
        ("2026-01-01T00:05:00+00:00", True),  # the first report after it
        ("2026-01-01T00:00:59.999+00:00", False),
        ("2026-01-01T00:05:00.001+00:00", False),
    ],
)
def test_silence_matches_by_device_and_time_within_the_gap(at: str, found: bool) -> None:
    truth = [
        record(DEVICE_SILENT, "v1", None, start="2026-01-01T00:01:00+00:00", end="2026-01-01T00:05:00+00:00")
    ]
    s = score([row(DEVICE_SILENT, "v1", None, at)], truth)[DEVICE_SILENT]
    assert figures(s) == ((1, 0, 0) if found else (0, 1, 1))
    assert figures(score([row(DEVICE_SILENT, "v2", None, at)], truth)[DEVICE_SILENT]) == (0, 1, 1)


def test_naive_times_from_parquet_are_utc() -> None:
    truth = [
        record(DEVICE_SILENT, "v1", None, start="2026-01-01T00:01:00+00:00", end="2026-01-01T00:05:00+00:00")
    ]
    naive = {
        "rule": DEVICE_SILENT,
        "device_id": "v1",
        "event_id": None,
        "event_time": datetime(2026, 1, 1, 0, 2),
    }
    assert figures(score([naive], truth)[DEVICE_SILENT]) == (1, 0, 0)


def test_a_row_repeated_by_a_replayed_step_counts_once() -> None:
    rows = [row(IMPOSSIBLE_SPEED, "v9", "e9")] * 3
    s = score(rows, [])[IMPOSSIBLE_SPEED]
    assert (s.raised, s.false_positives, s.precision, s.recall) == (1, 1, 0.0, None)


def test_an_anomaly_cut_short_by_the_run_end_counts_neither_way() -> None:
    cut = [record(DEVICE_SILENT, "v1", None, start="2026-01-01T00:09:00+00:00", end=None)]
    flagged = score([row(DEVICE_SILENT, "v1", None, "2026-01-01T00:09:00+00:00")], [], cut)[DEVICE_SILENT]
    missed = score([], [], cut)[DEVICE_SILENT]
    assert figures(flagged) == figures(missed) == (0, 0, 0)


def test_nothing_raised_nothing_injected_has_no_ratio_and_meets_no_target() -> None:
    scores = score([], [])
    assert list(scores) == list(ANOMALY_KINDS)
    assert all(s.precision is None and s.recall is None and not s.meets(0.95) for s in scores.values())


def test_targets_and_unknown_rules() -> None:
    truth = [record(IMPOSSIBLE_SPEED, f"v{i}", f"e{i}") for i in range(20)]
    rows = [row(IMPOSSIBLE_SPEED, f"v{i}", f"e{i}") for i in range(19)]
    s = score(rows, truth)[IMPOSSIBLE_SPEED]
    assert s.recall == 0.95 and s.precision == 1.0 and s.meets(0.95) and not s.meets(0.96)
    assert figures(score([row("made_up_rule", "v1", "e1")], [])["made_up_rule"]) == (0, 1, 0)


def test_score_manifests_adds_up_several_runs() -> None:
    runs = [
        {"anomalies": [record(IMPOSSIBLE_SPEED, "v1", "e1")], "anomalies_incomplete": []},
        {"anomalies": [record(IMPOSSIBLE_SPEED, "v2", "e2")]},
        {},
    ]
    s = score_manifests([row(IMPOSSIBLE_SPEED, "v2", "e2")], runs)[IMPOSSIBLE_SPEED]
    assert (s.injected, *figures(s)) == (2, 1, 0, 1)
