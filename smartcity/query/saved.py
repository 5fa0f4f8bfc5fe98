"""The saved Athena queries: one ``saved/<name>.sql`` file each, the question in its header comment.

The files are the single source: ``smartcity query NAME`` runs them locally, and the template's
``AWS::Athena::NamedQuery`` resources carry the same text (a template test compares the strings with
``saved_queries()``). Table names are unqualified: the NamedQuery's ``Database`` (and locally
``settings.catalog_database``) supplies the database, which is configurable. A query that would read a
whole table takes a time range as Athena execution parameters (``?``), declared in its header
(``smartcity.query.params``); a file whose declarations do not match its placeholders does not load.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

from smartcity.errors import UsageError

if TYPE_CHECKING:
    from smartcity.query.params import QueryParameter

_QUESTION = "-- Question:"


@dataclass(frozen=True)
class SavedQuery:
    """``sql`` is the file's exact text (header comment included), the NamedQuery's ``QueryString``;
    ``parameters`` are its ``-- Parameter:`` declarations, one per ``?`` in order."""

    name: str
    question: str
    sql: str
    parameters: tuple[QueryParameter, ...] = ()


def _saved_files() -> dict[str, Traversable]:
    """The saved queries' files by name, sorted by name."""
    folder = resources.files("smartcity.query") / "saved"
    entries = sorted(folder.iterdir(), key=lambda e: e.name)
    return {e.name[: -len(".sql")]: e for e in entries if e.name.endswith(".sql")}


def saved_query_names() -> list[str]:
    """The saved queries' names, sorted, without parsing them (sqlglot is slow to import): for ``--help``."""
    return list(_saved_files())


def saved_queries() -> dict[str, SavedQuery]:
    """All saved queries by name, sorted by name."""
    return dict(_loaded_saved_queries())


@functools.cache
def _loaded_saved_queries() -> dict[str, SavedQuery]:
    """The saved queries read and checked once per process: the files ship inside the package and do not
    change while it runs, and checking them parses every query (sqlglot, tens of milliseconds each)."""
    from smartcity.query.params import check_declared, declared_parameters
    from smartcity.query.transpile import parse

    out: dict[str, SavedQuery] = {}
    for name, entry in _saved_files().items():
        sql = entry.read_text(encoding="utf-8")
        first = sql.splitlines()[0] if sql else ""
        if not first.startswith(_QUESTION):
            raise ValueError(f"saved query {name} must start with a '{_QUESTION} ...' comment line")
        try:
            parameters = declared_parameters(sql)
            check_declared(parse(sql), parameters)
        except UsageError as exc:
            raise ValueError(f"saved query {name}: {exc}") from None
        out[name] = SavedQuery(name, first[len(_QUESTION) :].strip(), sql, parameters)
    return out


def saved_query(name: str) -> SavedQuery:
    queries = saved_queries()
    if name not in queries:
        raise UsageError(f"no saved query {name!r} (known: {', '.join(queries)})")
    return queries[name]
