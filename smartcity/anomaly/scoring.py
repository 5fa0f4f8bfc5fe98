"""Precision and recall of the ``anomalies`` table against the simulator's ground truth, per anomaly kind.

Matching (docs/anomalies.md): an event kind's injected anomaly is found when a row of the same rule
carries its ``event_id`` or one of its ``related_event_ids`` (the fix after a GPS jump, every report of a
stuck run); a silence is found when a ``device_silent`` row of the same device has its ``event_time``
within the silence's ``[start, end]``. A row that matches no injected anomaly is a false positive, unless
it matches one the run's end cut short (``anomalies_incomplete``): those count neither way. Counts are of
injected anomalies (TP, FN) and of distinct rows (FP), so a detector that flags a jump and the fix back
scores one true positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartcity.anomaly.rules import ANOMALY_KINDS, DEVICE_SILENT


@dataclass(frozen=True)
class KindScore:
    """One kind's figures; a ratio is None when its denominator is zero (nothing raised / injected)."""

    kind: str
    injected: int
    raised: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.injected if self.injected else None

    def meets(self, target: float) -> bool:
        """Both ratios at least ``target``; a kind with nothing injected cannot meet a target."""
        return (
            self.precision is not None
            and self.recall is not None
            and self.precision >= target
            and self.recall >= target
        )


def _instant(value: Any) -> datetime:
    """A row's or a record's time as an aware UTC datetime: a datetime as read from Parquet (naive ones
    are UTC, as the lake writes them), or ISO-8601 text as in the manifest."""
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _matches(row: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    if row["rule"] != record["kind"] or row["device_id"] != record["device_id"]:
        return False
    if record["kind"] == DEVICE_SILENT:
        if record.get("start") is None:
            return False
        end = record.get("end") or record["start"]
        return _instant(record["start"]) <= _instant(row["event_time"]) <= _instant(end)
    ids = {record.get("event_id"), *record.get("related_event_ids", ())} - {None}
    return row.get("event_id") in ids


def _by_device(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        out.setdefault(str(rec["device_id"]), []).append(rec)
    return out


def score(
    rows: Iterable[Mapping[str, Any]],
    injected: Iterable[Mapping[str, Any]],
    incomplete: Iterable[Mapping[str, Any]] = (),
) -> dict[str, KindScore]:
    """Per kind (every kind of rules.ANOMALY_KINDS, then any other rule a row names): the figures above.

    ``rows`` are the anomalies table's rows (``rule``, ``device_id``, ``event_id``, ``event_time``);
    ``injected`` and ``incomplete`` the manifest's ``anomalies`` and ``anomalies_incomplete``.
    """
    distinct = {(r["rule"], r["device_id"], r.get("event_id"), _instant(r["event_time"])): r for r in rows}
    records = list(injected)
    cut_short = list(incomplete)
    kinds = list(ANOMALY_KINDS) + sorted({k[0] for k in distinct} - set(ANOMALY_KINDS))
    out: dict[str, KindScore] = {}
    for kind in kinds:
        kind_rows = [r for key, r in distinct.items() if key[0] == kind]
        kind_records = _by_device(r for r in records if r["kind"] == kind)
        kind_cut_short = _by_device(r for r in cut_short if r["kind"] == kind)
        injected_n = sum(len(v) for v in kind_records.values())
        found = sum(
            1
            for device, recs in kind_records.items()
            for rec in recs
            if any(_matches(row, rec) for row in kind_rows if row["device_id"] == device)
        )
        false_positives = sum(
            1
            for row in kind_rows
            if not any(_matches(row, rec) for rec in kind_records.get(row["device_id"], ()))
            and not any(_matches(row, rec) for rec in kind_cut_short.get(row["device_id"], ()))
        )
        out[kind] = KindScore(
            kind=kind,
            injected=injected_n,
            raised=len(kind_rows),
            true_positives=found,
            false_positives=false_positives,
            false_negatives=injected_n - found,
        )
    return out


def score_manifests(
    rows: Iterable[Mapping[str, Any]], manifests: Iterable[Mapping[str, Any]]
) -> dict[str, KindScore]:
    """:func:`score` against the ground truth of one or more simulator manifests (runs into one lake)."""
    injected: list[Mapping[str, Any]] = []
    incomplete: list[Mapping[str, Any]] = []
    for manifest in manifests:
        injected += manifest.get("anomalies", [])
        incomplete += manifest.get("anomalies_incomplete", [])
    return score(rows, injected, incomplete)
