"""Fault injection between the world and the sink, with every injected fault accounted for.

Each event is, with the configured probabilities, sent as is, held back (late: delivered ``late_delay``
after its event time; out of order: delivered a few seconds later, after newer events of the same
device), sent twice (duplicate: the same bytes, so the same ``id``, again a little later), or replaced
by a malformed message of one of five kinds. Decisions come from their own seeded RNG so the clean
stream is identical with or without faults. The sink counts every message under its category, and
the manifest reports what was acknowledged per category — the numbers a consumer reconciles against.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass
from typing import Any, Protocol

from smartcity.config import Stream
from smartcity.errors import UsageError

MALFORMED_KINDS = ("invalid_json", "missing_field", "wrong_type", "out_of_range", "future_timestamp")
# Categories a message is counted under; malformed ones are "malformed:<kind>".
VALID, LATE, OUT_OF_ORDER, DUPLICATE = "valid", "late", "out_of_order", "duplicate"
CATEGORIES = (VALID, LATE, OUT_OF_ORDER, DUPLICATE, *(f"malformed:{k}" for k in MALFORMED_KINDS))
# A future timestamp is the event's own time plus a century: always in the future whenever the
# stream is read, and still byte-identical across runs with the same seed.
FUTURE_YEARS = 100


# ``all_faults(rate)`` gives each of these four faults the same rate, and the rates add up to at most 1.
ALL_FAULT_KINDS = ("late_rate", "out_of_order_rate", "duplicate_rate", "malformed_rate")
MAX_EACH_OF_ALL_FAULTS = 1.0 / len(ALL_FAULT_KINDS)


class Send(Protocol):
    def __call__(self, stream: Stream, key: str, value: str, category: str) -> None: ...


@dataclass(frozen=True)
class FaultConfig:
    """Per-event probabilities (mutually exclusive, summing to at most 1) and delays."""

    late_rate: float = 0.0
    late_delay_s: float = 300.0
    out_of_order_rate: float = 0.0
    out_of_order_max_s: float = 20.0
    duplicate_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int = 0

    ALL_FAULTS_RATE = 0.01

    def __post_init__(self) -> None:
        for name in ALL_FAULT_KINDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")
        if self.total_rate > 1.0:
            raise UsageError(f"fault rates add up to {self.total_rate:.3f} > 1")
        if self.late_delay_s <= 0 or self.out_of_order_max_s < 1:
            raise UsageError("--late-delay must be > 0 and the out-of-order window at least 1 s")

    @property
    def total_rate(self) -> float:
        return self.late_rate + self.out_of_order_rate + self.duplicate_rate + self.malformed_rate

    @classmethod
    def all_faults(cls, rate: float = ALL_FAULTS_RATE, **kwargs: Any) -> FaultConfig:
        return cls(**dict.fromkeys(ALL_FAULT_KINDS, rate), **kwargs)


class FaultInjector:
    """``emit`` for the world: decides each event's fate and passes it to ``send`` now or later."""

    def __init__(self, config: FaultConfig, send: Send, rng_state: list[Any] | None = None) -> None:
        self.config = config
        self.send = send
        self.rng = random.Random(config.seed ^ 0x5EED_FA17)
        if rng_state is not None:
            self.rng.setstate((rng_state[0], tuple(rng_state[1]), rng_state[2]))
        self._held: list[tuple[int, int, Stream, str, str, str]] = []
        self._seq = 0
        c = config
        # Cumulative thresholds, tested against one uniform draw per event.
        self._t_late = c.late_rate
        self._t_ooo = self._t_late + c.out_of_order_rate
        self._t_dup = self._t_ooo + c.duplicate_rate
        self._t_bad = self._t_dup + c.malformed_rate
        self.emit = self._emit_with_faults if c.total_rate > 0 else self._emit_clean

    def rng_state(self) -> list[Any]:
        version, internal, gauss = self.rng.getstate()
        return [version, list(internal), gauss]

    def _emit_clean(self, stream: Stream, key: str, value: str, event_ms: int) -> None:
        self.send(stream, key, value, VALID)

    def _emit_with_faults(self, stream: Stream, key: str, value: str, event_ms: int) -> None:
        r = self.rng.random()
        if r >= self._t_bad:
            self.send(stream, key, value, VALID)
        elif r < self._t_late:
            self._hold(event_ms + int(self.config.late_delay_s * 1000), stream, key, value, LATE)
        elif r < self._t_ooo:
            delay = self.rng.randint(1, int(self.config.out_of_order_max_s))
            self._hold(event_ms + delay * 1000, stream, key, value, OUT_OF_ORDER)
        elif r < self._t_dup:
            self.send(stream, key, value, VALID)
            self._hold(event_ms + self.rng.randint(1, 5) * 1000, stream, key, value, DUPLICATE)
        else:
            kind = MALFORMED_KINDS[self.rng.randrange(len(MALFORMED_KINDS))]
            self.send(stream, key, malform(stream, value, kind, self.rng), f"malformed:{kind}")

    def _hold(self, release_ms: int, stream: Stream, key: str, value: str, category: str) -> None:
        self._seq += 1
        heapq.heappush(self._held, (release_ms, self._seq, stream, key, value, category))

    def release(self, now_ms: int) -> int:
        """Send every held message due at ``now_ms`` (event time); returns how many."""
        held = self._held
        n = 0
        while held and held[0][0] <= now_ms:
            _, _, stream, key, value, category = heapq.heappop(held)
            self.send(stream, key, value, category)
            n += 1
        return n

    def release_all(self) -> int:
        """At the end of a run: everything still held goes out (late ones stay late)."""
        return self.release(1 << 62)

    @property
    def held(self) -> int:
        return len(self._held)


def malform(stream: Stream, value: str, kind: str, rng: random.Random) -> str:
    """A deterministic broken version of a valid message (rare, so ``json`` here is fine)."""
    if kind == "invalid_json":
        return value[: rng.randrange(1, len(value) - 1)]  # a truncated message: never valid JSON
    data: dict[str, Any] = json.loads(value)
    if kind == "missing_field":
        names = sorted(data)
        del data[names[rng.randrange(len(names))]]
    elif kind == "wrong_type":
        numeric = [k for k, v in data.items() if isinstance(v, int | float)]
        if numeric:
            name = numeric[rng.randrange(len(numeric))]
            data[name] = str(data[name])  # a number sent as text
        else:
            data["deviceId"] = rng.randrange(1, 10_000)  # a string sent as a number
    elif kind == "out_of_range":
        if "location" in data:
            lat = rng.choice((1, -1)) * rng.uniform(90.5, 180)
            data["location"] = [round(lat, 6), rng.uniform(-1, 1)]
        else:
            data["speed"] = -round(rng.uniform(1, 100), 1)
    elif kind == "future_timestamp":
        ts = str(data["timestamp"])
        data["timestamp"] = f"{int(ts[:4]) + FUTURE_YEARS}{ts[4:]}"
    else:  # pragma: no cover - guarded by MALFORMED_KINDS
        raise ValueError(kind)
    return json.dumps(data, separators=(",", ":"))
