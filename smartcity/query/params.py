"""Query parameters: Athena's positional ``?`` placeholders, declared by name and type in the SQL's header.

Athena runs a parameterized query with ``StartQueryExecution(ExecutionParameters=[...])``: each value is a
SQL literal, applied to the ``?`` placeholders in the order they occur. A saved query names its parameters
once, in header lines ``-- Parameter: <name> <type>: <what it bounds>``, one per ``?`` and in the same
order, so the local runner can check and convert the values it is given and say what is expected when
they are wrong. Values are bound through DuckDB's prepared-statement parameters, never formatted into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlglot import exp

from smartcity.errors import UsageError

PARAMETER_PREFIX = "-- Parameter:"
# A time range is two parameters named first_<unit> and last_<unit>, both bounds included.
FIRST, LAST = "first_", "last_"
_DECLARATION = re.compile(re.escape(PARAMETER_PREFIX) + r"\s*([a-z_][a-z0-9_]*)\s+([a-z]+)\s*:\s*(\S.*)$")


class _Rejected(ValueError):
    """A value that parses but is not acceptable; the message says what is expected instead."""


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        raise _Rejected("a zone-less UTC instant (Athena's timestamp has no zone)")
    return value


class _ParameterType(NamedTuple):
    """How a command-line value becomes the Python value DuckDB binds, the example shown in errors, and the
    widest value on each side (a range covering every partition: the lake holds nothing before 1900)."""

    parse: Callable[[str], Any]
    example: str
    earliest: Any
    latest: Any


_TYPES: dict[str, _ParameterType] = {
    "timestamp": _ParameterType(
        _timestamp, "2024-05-01T10:00", datetime(1900, 1, 1), datetime(9999, 12, 31, 23, 59, 59)
    ),
    "date": _ParameterType(date.fromisoformat, "2024-05-01", date(1900, 1, 1), date(9999, 12, 31)),
}


@dataclass(frozen=True)
class QueryParameter:
    """One ``?`` of a query: its name, its type (``timestamp`` or ``date``) and what it bounds."""

    name: str
    type: str
    description: str

    @property
    def signature(self) -> str:
        return f"{self.name} ({self.type}, e.g. {_TYPES[self.type].example})"

    def convert(self, text: str) -> Any:
        """The command-line text as the value DuckDB binds; a one-line error naming the expected type."""
        try:
            return _TYPES[self.type].parse(text)
        except _Rejected as exc:
            raise UsageError(f"parameter {self.signature}: cannot read {text!r}: {exc}") from None
        except ValueError:
            raise UsageError(f"parameter {self.signature}: cannot read {text!r}") from None


def declared_parameters(sql: str) -> tuple[QueryParameter, ...]:
    """The ``-- Parameter:`` declarations of a query's text, in order; a malformed one is an error."""
    out = []
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped.startswith(PARAMETER_PREFIX):
            continue
        m = _DECLARATION.fullmatch(stripped)
        if not m or m.group(2) not in _TYPES:
            raise UsageError(
                f"malformed declaration {stripped!r}: expected"
                f" '{PARAMETER_PREFIX} <name> <type>: <description>'"
                f" with type one of {', '.join(_TYPES)}"
            )
        out.append(QueryParameter(*m.groups()))
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise UsageError(f"a parameter is declared twice: {', '.join(names)}")
    return tuple(out)


def placeholder_count(tree: exp.Expression) -> int:
    """How many ``?`` the parsed query has (each one takes its own value, as in Athena)."""
    return sum(1 for _ in tree.find_all(exp.Placeholder))


def check_declared(tree: exp.Expression, parameters: Sequence[QueryParameter]) -> None:
    """Every ``?`` must be declared, and nothing more: the declarations are the parameters' only names."""
    count = placeholder_count(tree)
    if count != len(parameters):
        raise UsageError(
            f"the query has {count} '?' placeholder(s) but declares {len(parameters)} parameter(s)"
            f" (one '{PARAMETER_PREFIX} <name> <type>: <description>' line per '?', in order)"
        )


def expected(label: str, parameters: Sequence[QueryParameter]) -> str:
    """``<label> expects N parameter(s) in this order: a (timestamp, e.g. …), …`` for error messages."""
    if not parameters:
        return f"{label} takes no parameters"
    listed = ", ".join(p.signature for p in parameters)
    return f"{label} expects {len(parameters)} parameter(s) in this order: {listed}"


def bind(label: str, parameters: Sequence[QueryParameter], texts: Sequence[str]) -> list[Any]:
    """Command-line values (all positional, or all ``name=value``) as typed values in ``?`` order."""
    named = [t for t in texts if _is_named(t, parameters)]
    if named and len(named) != len(texts):
        raise UsageError(f"give every --param as NAME=VALUE or none of them; {expected(label, parameters)}")
    if named:
        by_name: dict[str, str] = {}
        for text in texts:
            name, _, value = text.partition("=")
            if name in by_name:
                raise UsageError(f"parameter {name} given twice; {expected(label, parameters)}")
            by_name[name] = value
        missing = [p.name for p in parameters if p.name not in by_name]
        if missing:
            raise UsageError(f"missing {', '.join(missing)}: {expected(label, parameters)}")
        texts = [by_name[p.name] for p in parameters]
    if len(texts) != len(parameters):
        raise UsageError(f"{expected(label, parameters)}; got {len(texts)}")
    return [p.convert(t) for p, t in zip(parameters, texts, strict=True)]


def _is_named(text: str, parameters: Sequence[QueryParameter]) -> bool:
    name, sep, _ = text.partition("=")
    if not sep:
        return False
    if name not in {p.name for p in parameters}:
        known = ", ".join(p.name for p in parameters) or "none"
        raise UsageError(f"unknown parameter {name!r}; expected one of: {known}")
    return True


def widest_values(parameters: Sequence[QueryParameter]) -> list[Any]:
    """Values that bound nothing (every partition is read): the earliest value of each type for a
    ``first_*`` parameter, the latest for a ``last_*`` one."""
    values = []
    for p in parameters:
        if p.name.startswith(FIRST):
            values.append(_TYPES[p.type].earliest)
        elif p.name.startswith(LAST):
            values.append(_TYPES[p.type].latest)
        else:
            raise UsageError(f"parameter {p.name} is not a range bound ({FIRST}*, {LAST}*): no widest value")
    return values
