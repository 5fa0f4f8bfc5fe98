"""The load ledger: which lake file versions the warehouse already holds (local stand-in for bookmarks).

A file version is its URI plus size and modification time. The ledger lives in the warehouse and is
written in the same transaction as the MERGEs, so "merged" and "recorded as merged" cannot disagree after a
crash: either both happened or neither did, and the next run loads exactly the files that are missing.
"""

from __future__ import annotations

import psycopg

from smartcity.warehouse.source import SourceFile


def loaded_versions(conn: psycopg.Connection, source_table: str) -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        "SELECT file_uri, size_bytes, mtime_ns FROM etl_load_ledger WHERE source_table = %s", (source_table,)
    ).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def pending(
    files: tuple[SourceFile, ...] | list[SourceFile], loaded: dict[str, tuple[int, int]]
) -> list[SourceFile]:
    """Files never loaded, or whose size or modification time changed since they were."""
    return [f for f in files if loaded.get(f.uri) != (f.size, f.mtime_ns)]


def record(
    conn: psycopg.Connection, source_table: str, files: list[SourceFile], rows: dict[str, int], load_id: int
) -> None:
    """Upsert the ledger rows of ``files`` (inside the caller's transaction)."""
    if not files:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO etl_load_ledger (source_table, file_uri, size_bytes, mtime_ns, rows_read, load_id) "
            "VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (source_table, file_uri) DO UPDATE SET size_bytes = EXCLUDED.size_bytes, "
            "mtime_ns = EXCLUDED.mtime_ns, rows_read = EXCLUDED.rows_read, load_id = EXCLUDED.load_id",
            [(source_table, f.uri, f.size, f.mtime_ns, rows.get(f.uri, 0), load_id) for f in files],
        )
