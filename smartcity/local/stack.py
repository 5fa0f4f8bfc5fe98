"""The local stack as a whole: start every component (in parallel), report status, stop all by PID."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from smartcity.config import Settings
from smartcity.local import jvm, s3
from smartcity.local.component import Component, ComponentStatus
from smartcity.local.kafka import KafkaBroker
from smartcity.local.moto_server import MotoServer
from smartcity.local.postgres import PostgresServer
from smartcity.local.process import free_port


@dataclass(frozen=True)
class UpReport:
    seconds: float
    started: list[str]
    reused: list[str]


class LocalStack:
    """Kafka (KRaft), PostgreSQL and moto under one state directory, every listener on 127.0.0.1."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.components: list[Component] = [
            KafkaBroker(settings),
            PostgresServer(settings),
            MotoServer(settings),
        ]

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def up(self) -> UpReport:
        """Start what is not running; healthy components are reused, so ``up`` is idempotent."""
        t0 = time.monotonic()
        self.settings.local.state_dir.mkdir(parents=True, exist_ok=True)
        jvm.resolve("kafka", verify_hashes=False)  # fail fast, before any process starts
        reused = [c.name for c in self.components if c.record() is not None]
        for c in self.components:  # a taken port fails before any component starts, not after the others
            if c.name not in reused:
                c.check_ports()
        with ThreadPoolExecutor(len(self.components)) as pool:
            futures = {c.name: pool.submit(c.start) for c in self.components}
            errors = []
            for name, fut in futures.items():
                try:
                    fut.result()
                except Exception as exc:
                    errors.append((name, exc))
        if errors:
            for c in self.components:
                if c.name not in reused:
                    c.stop()
            raise errors[0][1]
        if s3.uses_s3(self.settings):  # moto keeps buckets in memory: a fresh server has none
            s3.ensure_buckets(self.settings)
        started = [c.name for c in self.components if c.name not in reused]
        return UpReport(time.monotonic() - t0, started, reused)

    def down(self) -> float:
        t0 = time.monotonic()
        with ThreadPoolExecutor(len(self.components)) as pool:
            list(pool.map(lambda c: c.stop(), self.components))
        return time.monotonic() - t0

    def status(self) -> list[ComponentStatus]:
        return [c.status() for c in self.components]

    def pids(self) -> list[int]:
        return [s.pid for s in self.status() if s.pid is not None]

    def is_up(self) -> bool:
        return all(s.running for s in self.status())


def private_stack_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a private local stack under ``home`` on ports the OS says are free: what tests and
    benchmarks run beside a user's own stack without touching it."""
    local = {
        "home": home,
        "kafka_port": free_port(),
        "kafka_controller_port": free_port(),
        "postgres_port": free_port(),
        "moto_port": free_port(),
    }
    return Settings(profile="local", local=local, **overrides)  # type: ignore[arg-type]
