"""PySpark's column functions with their JVM handles looked up once per context, not once per call.

PySpark 3.5 finds ``org.apache.spark.sql.functions`` and then the function's member over the Py4J socket
on every ``F.<function>``, ``F.col`` and ``F.lit``: two round trips before the call itself. A step of the
stream job builds thousands of column expressions on the driver, so those look-ups were about a quarter
of its calls into the JVM (docs/decisions/0014-jvm-function-handles.md has the measurement).
:func:`install` replaces PySpark's three look-up helpers by ones that remember the handles of the
current SparkContext; the expressions they build are the same.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pyspark
from pyspark import SparkContext
from pyspark.sql import column as column_module
from pyspark.sql import functions as functions_module

# The PySpark line whose private helpers install() replaces (the line of AWS Glue 5.x); on any other
# version install() leaves PySpark as it is.
PYSPARK_LINE = "3.5."


@dataclass
class _Handles:
    """The handles of one SparkContext (held, so a new context never reuses a dead one's)."""

    context: SparkContext
    functions: Any  # the Py4J JavaClass of org.apache.spark.sql.functions
    members: dict[str, Any] = field(default_factory=dict)


_current: _Handles | None = None
_install_lock = threading.Lock()
# PySpark's own helpers, as imported (before any install), for uninstall().
_PYSPARK_HELPERS = {
    (functions_module, "_get_jvm_function"): functions_module._get_jvm_function,
    (functions_module, "_create_column_from_literal"): functions_module._create_column_from_literal,
    (column_module, "_create_column_from_literal"): column_module._create_column_from_literal,
    (column_module, "_create_column_from_name"): column_module._create_column_from_name,
}


def function_handle(name: str, sc: SparkContext) -> Any:
    """The Py4J member ``org.apache.spark.sql.functions.<name>`` of ``sc``, looked up once per context.

    Concurrent first look-ups of one name may both ask the JVM; either answer is the same member.
    """
    global _current
    handles = _current
    if handles is None or handles.context is not sc:
        assert sc._jvm is not None
        handles = _current = _Handles(sc, sc._jvm.functions)
    member = handles.members.get(name)
    if member is None:
        member = handles.members[name] = getattr(handles.functions, name)
    return member


def _active() -> SparkContext:
    sc = SparkContext._active_spark_context
    assert sc is not None, "no active SparkContext"
    return sc


def _column_from_name(name: str) -> Any:
    return function_handle("col", _active())(name)


def _column_from_literal(literal: Any) -> Any:
    return function_handle("lit", _active())(literal)


def install() -> bool:
    """Route PySpark's function look-ups through :func:`function_handle` (idempotent). Returns whether
    it did: only on the :data:`PYSPARK_LINE` whose helpers it knows."""
    if not pyspark.__version__.startswith(PYSPARK_LINE):
        return False
    replacements = {
        "_get_jvm_function": function_handle,
        "_create_column_from_literal": _column_from_literal,
        "_create_column_from_name": _column_from_name,
    }
    with _install_lock:
        for module, name in _PYSPARK_HELPERS:
            setattr(module, name, replacements[name])
    return True


def uninstall() -> None:
    """Give PySpark its own look-up helpers back."""
    with _install_lock:
        for (module, name), helper in _PYSPARK_HELPERS.items():
            setattr(module, name, helper)
