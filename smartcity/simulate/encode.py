"""Fast, exact JSON for the hot path: ids and timestamps as strings without per-event objects.

Generating JSON in Python is the simulator's bottleneck, so events are formatted from f-string
templates instead of ``json.dumps`` on dicts or pydantic models. Every value put into a template is
produced by the simulator itself (no quotes or control characters), which is what makes plain
formatting safe; tests parse every generated message back through the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# RFC 4122 variant: the first hex digit of the fourth group is 8, 9, a or b.
VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4_from(randbytes: Callable[[int], bytes]) -> str:
    """A version-4 UUID string from ``rng.randbytes`` (so seeded runs repeat their ids).

    Equal to ``str(uuid.UUID(bytes=b, version=4))`` for ``b = randbytes(16)``, at a third of the cost:
    the version and variant digits are substituted in the hex text instead of building a UUID object.
    """
    h = randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def second_prefix(epoch_s: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a UTC second; events append ``.mmmZ``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class TimestampFormatter:
    """ISO-8601 UTC with milliseconds (``2025-01-01T08:00:01.250Z``), caching the per-second prefix."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, epoch_ms: int) -> str:
        second, ms = divmod(epoch_ms, 1000)
        if second != self._second:
            self._second = second
            self._prefix = second_prefix(second)
        return f"{self._prefix}.{ms:03d}Z"


def epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)
