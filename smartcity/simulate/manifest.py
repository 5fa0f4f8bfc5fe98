"""The run manifest: what was produced and acknowledged, per topic and per fault category.

Every count but ``produced`` is taken from delivery reports, so the manifest describes exactly what a
consumer can read back. ``distinct_valid_ids`` counts valid, late and out-of-order messages (each a
new id); duplicates resend an id already counted. Written atomically at the end and on interruption.
The runner adds the injected anomalies (``anomalies``, ``anomalies_incomplete``: the ground truth of
smartcity.simulate.anomalies).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smartcity.contract import CONTRACT_VERSION
from smartcity.simulate.faults import DUPLICATE, LATE, MALFORMED_KINDS, OUT_OF_ORDER, VALID
from smartcity.simulate.sinks import Counts

PRODUCED, ACKED, FAILED = 0, 1, 2


def topic_summary(counts: Counts, topic: str, stream: str) -> dict[str, Any]:
    def acked(category: str) -> int:
        return counts.cells[(topic, category)][ACKED]

    cells = [cell for (t, _), cell in counts.cells.items() if t == topic]
    malformed = {kind: acked(f"malformed:{kind}") for kind in MALFORMED_KINDS}
    distinct = acked(VALID) + acked(LATE) + acked(OUT_OF_ORDER)
    return {
        "stream": stream,
        "produced": sum(c[PRODUCED] for c in cells),
        "acknowledged": sum(c[ACKED] for c in cells),
        "failed": sum(c[FAILED] for c in cells),
        "valid_messages": distinct + acked(DUPLICATE),
        "distinct_valid_ids": distinct,
        "duplicates": acked(DUPLICATE),
        "late": acked(LATE),
        "out_of_order": acked(OUT_OF_ORDER),
        "malformed": malformed,
        "malformed_total": sum(malformed.values()),
    }


def build_manifest(
    counts: Counts, run: dict[str, Any], *, interrupted: bool, undelivered: int
) -> dict[str, Any]:
    topics = {topic: topic_summary(counts, topic, stream.value) for stream, topic in counts.topics.items()}
    keys = (
        "produced",
        "acknowledged",
        "failed",
        "valid_messages",
        "distinct_valid_ids",
        "duplicates",
        "late",
        "out_of_order",
        "malformed_total",
    )
    totals: dict[str, Any] = {k: sum(t[k] for t in topics.values()) for k in keys}
    totals["malformed"] = {k: sum(t["malformed"][k] for t in topics.values()) for k in MALFORMED_KINDS}
    return {
        "contract_version": CONTRACT_VERSION,
        "run": run,
        "interrupted": interrupted,
        "undelivered": undelivered,
        # True when every message handed to the producer has its delivery report and none failed.
        "complete": undelivered == 0
        and totals["failed"] == 0
        and totals["produced"] == totals["acknowledged"],
        "topics": topics,
        "totals": totals,
        "last_error": counts.last_error,
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Atomic write (temp file + rename) so a reader never sees half a manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_manifest(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
