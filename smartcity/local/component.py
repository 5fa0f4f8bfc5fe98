"""The shape every local stack component shares: start idempotently, report status, stop by PID."""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from smartcity.config import Settings
from smartcity.errors import StackError
from smartcity.local.process import PidFile, ProcessRecord, port_is_free, stop


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    port: int
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""


class Component(ABC):
    """One process of the local stack (Kafka, PostgreSQL, moto)."""

    name: str
    # The signal that asks for a fast, clean shutdown (PostgreSQL wants SIGINT, not SIGTERM).
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.local.state_dir
        self.pidfile = PidFile(self.home, self.name)
        self.log_path = self.home / "logs" / f"{self.name}.log"

    @property
    @abstractmethod
    def ports(self) -> list[int]:
        """Every port the component listens on; the first is the one clients use."""

    @abstractmethod
    def launch(self) -> ProcessRecord:
        """Start the process (not waiting for readiness)."""

    @abstractmethod
    def wait_ready(self, record: ProcessRecord) -> None:
        """Block until the component answers its health check, or raise StackError."""

    @abstractmethod
    def healthy(self) -> bool:
        """A cheap end-to-end check that clients can use it now."""

    def record(self) -> ProcessRecord | None:
        rec = self.pidfile.read()
        return rec if rec is not None and rec.alive() else None

    def start(self) -> ProcessRecord:
        """Idempotent: a running, healthy component is reused; ports taken by others fail clearly."""
        existing = self.record()
        if existing is not None:
            self.wait_ready(existing)
            return existing
        self.pidfile.remove()
        self.check_ports()
        record = self.launch()
        self.pidfile.write(record)
        try:
            self.wait_ready(record)
        except BaseException:
            stop(record, self.settings.local.stop_timeout_s)
            self.pidfile.remove()
            raise
        return record

    def check_ports(self) -> None:
        """Raise StackError naming the first of this component's ports that another process holds."""
        for port in self.ports:
            if not port_is_free(port):
                raise StackError(
                    f"port {port} needed by {self.name} is taken by another process "
                    f"(set another port, e.g. SMARTCITY_LOCAL__{self.name.upper()}_PORT)"
                )

    def stop(self) -> None:
        rec = self.pidfile.read()
        if rec is not None:
            stop(rec, self.settings.local.stop_timeout_s, self.stop_signal)
        self.pidfile.remove()

    def status(self) -> ComponentStatus:
        rec = self.record()
        running = rec is not None
        return ComponentStatus(
            name=self.name,
            port=self.ports[0],
            pid=rec.pid if rec else None,
            running=running,
            healthy=running and self.healthy(),
            detail=self.detail(),
        )

    def detail(self) -> str:
        return ""

    @property
    def state_path(self) -> Path:
        return self.home / self.name
