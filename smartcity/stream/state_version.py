"""The committed state version: the job's event-time clock and live state segments, one JSON file per step.

Writing ``<checkpoint>/enrichment/versions/<step>.json`` is a step's commit. This module imports no Spark,
so compaction (which closes a partition only behind the committed watermark) and tools read it cheaply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from smartcity.stream.stepid import StepId

# The state's folder under the checkpoint URI, its versions' folder and its segments' folder.
STATE_DIR = "enrichment"
VERSIONS_DIR = f"{STATE_DIR}/versions"
SEGMENTS_DIR = f"{STATE_DIR}/segments"


def segment_folder(step_key: str, kind: str | None = None) -> str:
    """A step's state segment (of one kind, or of every kind) relative to the checkpoint URI."""
    return f"{SEGMENTS_DIR}/{step_key}" + (f"/kind={kind}" if kind else "")


@dataclass(frozen=True)
class WatermarkClock:
    """The job's event-time position (None: nothing yet). Aware UTC datetimes.

    ``max_event_time`` drives the watermark (each step's newest capped at its ingest time + the allowed
    clock lead); ``max_event_time_seen`` is the newest event time accepted at all, which a flush must
    pass so that every open vehicle event becomes final.
    """

    watermark: datetime | None = None
    max_event_time: datetime | None = None
    max_event_time_seen: datetime | None = None


@dataclass(frozen=True)
class Segment:
    """One kind's rows written by one step; ``newest`` is the largest expiry value among them (ISO)."""

    kind: str
    step: str  # the writing step's key
    newest: str

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "step": self.step, "newest": self.newest}


@dataclass
class StateVersion:
    """The state as committed by one step."""

    step: StepId
    clock: WatermarkClock
    segments: list[Segment] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "step": self.step.key,
                "watermark": _iso(self.clock.watermark),
                "max_event_time": _iso(self.clock.max_event_time),
                "max_event_time_seen": _iso(self.clock.max_event_time_seen),
                "segments": [s.to_json() for s in self.segments],
                "totals": self.totals,
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> StateVersion:
        d = json.loads(text)
        return cls(
            step=StepId.from_key(d["step"]),
            clock=WatermarkClock(
                _dt(d["watermark"]), _dt(d["max_event_time"]), _dt(d["max_event_time_seen"])
            ),
            segments=[Segment(**s) for s in d["segments"]],
            totals=dict(d["totals"]),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
