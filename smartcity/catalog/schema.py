"""Parquet schemas → Glue column types, merged across files the way the crawler merges them.

The crawler reads each file's footer (never the contract) because the catalog must describe what is really
in the lake. Merge rule (``CombineCompatibleSchemas`` + ``MergeNewColumns``): columns keep the order in
which they were first seen, oldest partitions first; a column that appears in newer files is appended; a
column never changes type once catalogued (a different type is reported, not applied, so old partitions stay
readable).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


def glue_type(t: pa.DataType) -> str:
    """The Hive/Glue type name the crawler writes for an Arrow (Parquet) type."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_uint8(t):
        return "tinyint"
    if pa.types.is_int16(t) or pa.types.is_uint16(t):
        return "smallint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in t) + ">"
    if pa.types.is_dictionary(t):
        return glue_type(t.value_type)
    if pa.types.is_null(t):
        return "string"
    raise ValueError(f"no Glue type for Parquet/Arrow type {t}")


@dataclass
class MergedSchema:
    """Columns as ``(name, glue type)`` in catalogue order, plus the type conflicts met on the way."""

    columns: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def add(self, schema: pa.Schema, where: str) -> None:
        known = dict(self.columns)
        for f in schema:
            typ = glue_type(f.type)
            if f.name not in known:
                self.columns.append((f.name, typ))
                known[f.name] = typ
            elif known[f.name] != typ:
                self.conflicts.append(f"column {f.name} is {typ} in {where}, catalogued as {known[f.name]}")


def merge_onto(existing: list[tuple[str, str]], found: list[tuple[str, str]]) -> MergedSchema:
    """Existing catalog columns first (never dropped nor retyped), then new columns in found order."""
    merged = MergedSchema(columns=list(existing))
    known = dict(existing)
    for name, typ in found:
        if name not in known:
            merged.columns.append((name, typ))
            known[name] = typ
        elif known[name] != typ:
            merged.conflicts.append(f"column {name} is {typ} in the files, catalogued as {known[name]}")
    return merged
