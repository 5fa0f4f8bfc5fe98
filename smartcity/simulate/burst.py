"""The scheduled simulator: one bounded burst per invocation, continuing the saved world.

Each invocation loads the world from the state store, produces the next ``burst_seconds`` of event
time as fast as possible (never past now, never past the wall-clock budget), flushes, and saves the
world back, so vehicles continue their routes across invocations. A world that fell far behind (the
schedule was paused) jumps forward in time rather than replaying hours of backlog; vehicles keep
their positions. Run it with reserved concurrency 1: two overlapping bursts would fork the state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartcity.config import Settings
from smartcity.simulate.encode import from_epoch_ms
from smartcity.simulate.faults import FaultConfig, FaultInjector
from smartcity.simulate.runner import RunConfig, Simulation, Sink
from smartcity.simulate.sinks import KafkaSink, kafka_config
from smartcity.simulate.world import World, WorldParams

STATE_FORMAT = 1
# Kept free at the end of an invocation for flushing and saving the state.
SAFETY_MARGIN_S = 10.0


class WorldStateStore(Protocol):
    """Where the simulator's world (vehicles, routes, fault RNG) is kept between invocations."""

    def load(self) -> dict[str, Any] | None: ...
    def save(self, state: dict[str, Any]) -> None: ...


class S3WorldStateStore:
    """The world as one JSON object in S3 (a few hundred KB at 10,000 vehicles)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key

    def load(self) -> dict[str, Any] | None:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            return None
        data: dict[str, Any] = json.loads(obj["Body"].read())
        return data

    def save(self, state: dict[str, Any]) -> None:
        body = json.dumps(state, separators=(",", ":")).encode()
        self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/json")


@dataclass(frozen=True)
class BurstConfig:
    """Configuration from the function's environment (``SIMULATOR_*``)."""

    bucket: str
    key: str = "simulator/state.json"
    burst_seconds: float = 60.0
    max_events: int | None = None
    max_wall_seconds: float = 40.0
    start_lag_seconds: float = 600.0
    max_gap_seconds: float = 3600.0
    world: WorldParams = field(default_factory=WorldParams)
    fault_rate: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BurstConfig:
        bucket = env.get("SIMULATOR_STATE_BUCKET")
        if not bucket:
            raise ValueError("SIMULATOR_STATE_BUCKET is not set")
        max_events = env.get("SIMULATOR_MAX_EVENTS")
        return cls(
            bucket=bucket,
            key=env.get("SIMULATOR_STATE_KEY", cls.key),
            burst_seconds=float(env.get("SIMULATOR_BURST_SECONDS", cls.burst_seconds)),
            max_events=int(max_events) if max_events else None,
            max_wall_seconds=float(env.get("SIMULATOR_MAX_WALL_SECONDS", cls.max_wall_seconds)),
            start_lag_seconds=float(env.get("SIMULATOR_START_LAG_SECONDS", cls.start_lag_seconds)),
            max_gap_seconds=float(env.get("SIMULATOR_MAX_GAP_SECONDS", cls.max_gap_seconds)),
            world=WorldParams(
                scenario=env.get("SIMULATOR_SCENARIO", "london"),
                vehicles=int(env.get("SIMULATOR_VEHICLES", "100")),
                seed=int(env.get("SIMULATOR_SEED", "42")),
            ),
            fault_rate=float(env.get("SIMULATOR_FAULT_RATE", "0")),
        )


def _load_world(
    cfg: BurstConfig, state: dict[str, Any] | None, now_ms: int
) -> tuple[World, list[Any] | None, int]:
    lag_ms = int(cfg.start_lag_seconds * 1000)
    fresh_start = now_ms - lag_ms - (now_ms - lag_ms) % 1000
    if state is None or state.get("format") != STATE_FORMAT:
        return World.create(cfg.world, fresh_start), None, 0
    world = World.from_state(state["world"])
    if world.params != cfg.world:  # the function was reconfigured: start a new city
        return World.create(cfg.world, fresh_start), None, 0
    if now_ms - world.time_ms > cfg.max_gap_seconds * 1000:
        world.time_ms = fresh_start
    return world, state.get("faults_rng"), int(state.get("invocations", 0))


def run_burst(
    cfg: BurstConfig,
    settings: Settings,
    store: WorldStateStore,
    *,
    now_ms: int,
    time_left_s: float | None = None,
    sink: Sink | None = None,
) -> dict[str, Any]:
    """One invocation's work; returns the burst's manifest plus the event-time window it covered."""
    world, faults_rng, invocations = _load_world(cfg, store.load(), now_ms)
    budget = cfg.max_wall_seconds
    if time_left_s is not None:
        budget = min(budget, max(1.0, time_left_s - SAFETY_MARGIN_S))
    deadline = time.monotonic() + budget * 0.75  # the rest is for flushing
    end_ms = min(world.time_ms + int(cfg.burst_seconds * 1000), now_ms - now_ms % 1000)
    sink = sink or KafkaSink(kafka_config(settings), settings.topics.all())
    faults = FaultConfig.all_faults(cfg.fault_rate, seed=cfg.world.seed)
    injector = FaultInjector(faults, sink.send, rng_state=faults_rng)
    run_cfg = RunConfig(
        world=cfg.world, faults=faults, mode="backfill", start_ms=world.time_ms, max_events=cfg.max_events
    )
    first_ms = world.time_ms
    manifest = Simulation(run_cfg, sink, world=world, faults=injector).run(
        end_ms=end_ms, deadline=deadline, flush_timeout_s=max(1.0, budget * 0.25)
    )
    store.save(
        {
            "format": STATE_FORMAT,
            "world": world.to_state(),
            "faults_rng": injector.rng_state(),
            "invocations": invocations + 1,
        }
    )
    manifest["window"] = {
        "from": from_epoch_ms(first_ms).isoformat(),
        "to": from_epoch_ms(world.time_ms).isoformat(),
    }
    manifest["invocation"] = invocations + 1
    return manifest
