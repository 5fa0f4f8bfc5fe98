"""Earlier local evaluations, kept so that rules relative to the recent past judge locally as in AWS.

Glue Data Quality keeps the metrics of earlier runs of a ruleset for its dynamic rules
(``avg(last(N))``); locally each evaluation appends one JSON line per table to
``<home>/quality/history.jsonl``: the table, when, and its row count.
"""

from __future__ import annotations

import json
from pathlib import Path

from smartcity.config import Settings
from smartcity.errors import SmartCityError
from smartcity.quality.local import TableResult


def history_path(settings: Settings) -> Path:
    """The history file under the local stack's home."""
    return settings.local.state_dir / "quality" / "history.jsonl"


def recent_counts(path: Path, table: str) -> list[int]:
    """Row counts of the table's earlier evaluations, oldest first; none when the file does not exist."""
    if not path.exists():
        return []
    counts: list[int] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if entry["table"] == table:
                counts.append(int(entry["row_count"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SmartCityError(
                f"{path}:{number} is not a quality history entry ({exc.__class__.__name__}: {exc}); "
                "fix or remove that line"
            ) from None
    return counts


def record(path: Path, result: TableResult) -> None:
    """Append the evaluation's row count to the history."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "table": result.table,
        "evaluated_at": result.evaluated_at.isoformat(),
        "row_count": result.row_count,
        "passed": result.passed,
    }
    with path.open("a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
