"""Three saved Athena queries beside the warehouse views that answer the same question.

Both sides are computed by the product (DuckDB over the catalogued lake; PostgreSQL views over the
loaded fact table); the demo prints them and says whether they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from smartcity.config import Settings

PAIRS: tuple[tuple[str, str], ...] = (
    (
        "avg_speed_by_weather",
        "SELECT weather_condition, events, avg_speed_kmh FROM v_avg_speed_by_weather "
        "ORDER BY weather_condition",
    ),
    (
        "speeding_hotspots",
        "SELECT cell_id, events, speeding_events, speeding_pct, max_speed_kmh FROM v_speeding_hotspots "
        "ORDER BY speeding_events DESC, cell_id LIMIT 20",
    ),
    (
        "weather_coverage_per_hour",
        "SELECT to_char(hour, 'YYYY-MM-DD'), to_char(hour, 'HH24'), events, without_weather, "
        "without_weather_pct FROM v_weather_coverage_per_hour ORDER BY hour",
    ),
)


@dataclass
class Comparison:
    name: str
    question: str
    columns: list[str]
    athena_rows: list[tuple[Any, ...]]
    warehouse_rows: list[tuple[Any, ...]]

    @property
    def agree(self) -> bool:
        return bool(self.athena_rows) and _same(self.athena_rows, self.warehouse_rows)


def _norm(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return round(float(value), 2)


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    if len(a) != len(b):
        return False
    key = lambda r: tuple(str(_norm(x)) for x in r)  # noqa: E731 - a sort key, local
    sa, sb = sorted(a, key=key), sorted(b, key=key)
    for ra, rb in zip(sa, sb, strict=True):
        for x, y in zip(ra, rb, strict=True):
            nx, ny = _norm(x), _norm(y)
            if isinstance(nx, float) and isinstance(ny, float):
                if abs(nx - ny) > 0.011:
                    return False
            elif str(nx) != str(ny):
                return False
    return True


def compare_all(settings: Settings) -> list[Comparison]:
    from smartcity.query.engine import run_query
    from smartcity.query.params import widest_values
    from smartcity.query.saved import saved_query

    out = []
    with psycopg.connect(settings.warehouse_dsn) as conn:
        for name, view_sql in PAIRS:
            saved = saved_query(name)
            athena = run_query(settings, saved.sql, params=widest_values(saved.parameters))
            rows = [tuple(r) for r in conn.execute(view_sql).fetchall()]
            out.append(
                Comparison(name, saved.question, list(athena.columns), [tuple(r) for r in athena.rows], rows)
            )
    return out
