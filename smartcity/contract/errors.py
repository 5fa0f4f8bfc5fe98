"""The one exception the contract raises for a bad message, shaped for a quarantine row.

``kind`` is a small closed vocabulary so the streaming job can count rejections per kind and the
simulator's manifest can be reconciled with them; ``field`` is the JSON field name so a human reading
the quarantine table knows what to fix without re-parsing the message.
"""

from __future__ import annotations

from typing import Literal

ViolationKind = Literal[
    "invalid_json", "missing_field", "wrong_type", "out_of_range", "future_timestamp", "invalid_value"
]
VIOLATION_KINDS: tuple[ViolationKind, ...] = (
    "invalid_json",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "future_timestamp",
    "invalid_value",
)


class ContractViolation(ValueError):
    """A message does not satisfy the contract. ``str(exc)`` is ``"<kind>: <field> <detail>"``."""

    def __init__(self, kind: ViolationKind, field: str, detail: str) -> None:
        self.kind: ViolationKind = kind
        self.field = field
        self.detail = detail
        super().__init__(f"{kind}: {field} {detail}")
