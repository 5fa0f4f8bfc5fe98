"""Which step of the job a file belongs to: a Spark micro-batch, or the drain flush that follows one."""

from __future__ import annotations

from dataclasses import dataclass

_KINDS = ("batch", "flush")  # in run order, which is also their names' order


@dataclass(frozen=True, order=True)
class StepId:
    """A step: micro-batch ``batch_id`` of the query, or (``flush``) the window-closing step after it.

    Ordered as the job runs them (a batch, then its flush, then the next batch), and so are their keys.
    """

    batch_id: int
    flush: bool = False

    @property
    def key(self) -> str:
        """The step's name in file names, ``000000000012-batch`` or ``000000000012-flush``: names sort in
        run order."""
        return f"{self.batch_id:015d}-{_KINDS[self.flush]}"

    @classmethod
    def from_key(cls, key: str) -> StepId:
        """The step named by :attr:`key` (a ``ValueError`` for anything else)."""
        digits, _, kind = key.partition("-")
        if len(digits) != 15 or not digits.isdigit() or kind not in _KINDS:
            raise ValueError(f"not a step key: {key!r}")
        return cls(int(digits), kind == "flush")
