"""What each catalogued lake table loads into: the warehouse tables built from it, in load order.

One map for both loaders: ``smartcity load`` (local, PostgreSQL) and the Glue ETL job (Redshift).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smartcity.warehouse import merge

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class Source:
    """A catalogued lake table and the warehouse tables built from it.

    ``build(frame, dedupe)``: with ``dedupe=False`` the builder may leave repeated keys of an event target
    in place (the loader's first, optimistic attempt; the target's primary key refuses them).
    """

    table: str
    build: Callable[[DataFrame, bool], dict[merge.Target, DataFrame]]
    primary: merge.Target  # the target whose counts are the source's read/inserted/updated/skipped


# The builders import the Spark transforms when they run: the map itself is read by the CLI to check a
# `--source` name, which must not start by importing pyspark.
def _from_enriched(df: DataFrame, dedupe: bool) -> dict[merge.Target, DataFrame]:
    from smartcity.warehouse import transform

    facts = transform.vehicle_telemetry(df, dedupe=dedupe)
    return {merge.FACT_VEHICLE_TELEMETRY: facts, merge.DIM_VEHICLE: transform.vehicles(facts)}


def _from_emergency(df: DataFrame, _dedupe: bool) -> dict[merge.Target, DataFrame]:
    from smartcity.warehouse import transform

    return {merge.FACT_INCIDENT: transform.incidents(df)}


def _from_weather(df: DataFrame, _dedupe: bool) -> dict[merge.Target, DataFrame]:
    from smartcity.warehouse import transform

    return {merge.DIM_WEATHER_STATION: transform.weather_stations(df)}


SOURCES: tuple[Source, ...] = (
    Source("vehicle_enriched", _from_enriched, merge.FACT_VEHICLE_TELEMETRY),
    Source("raw_emergency", _from_emergency, merge.FACT_INCIDENT),
    Source("raw_weather", _from_weather, merge.DIM_WEATHER_STATION),
)


PRIMARY_SOURCE = SOURCES[0]
