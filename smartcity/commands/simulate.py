"""``smartcity simulate``: the city's five event streams into Kafka (thin: flags → smartcity.simulate)."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from smartcity.commands._common import add_stack_options, positive, quiet_libraries, settings_from
from smartcity.errors import UsageError
from smartcity.simulate.anomalies import MAX_ANOMALY_RATE, AnomalyConfig
from smartcity.simulate.clock import default_start_ms
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.faults import FaultConfig
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.scenarios import SCENARIOS
from smartcity.simulate.sinks import KafkaSink, MemorySink, kafka_config
from smartcity.simulate.world import WorldParams

MAX_VEHICLES = 10_000


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="produce simulated vehicle, GPS, camera, weather and emergency events into Kafka",
        description="Simulate a city's traffic into the five Kafka topics, with exact fault injection.",
    )
    add_stack_options(p)
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="london")
    p.add_argument(
        "--vehicles", type=_vehicles, default=100, help=f"vehicles (1..{MAX_VEHICLES}, default 100)"
    )
    stop = p.add_argument_group("when to stop (event time; default: until Ctrl-C, backfill 10 minutes)")
    stop.add_argument("--duration", type=positive(float), help="simulated seconds to produce")
    stop.add_argument(
        "--events", type=positive(int), help="stop after the second in which this many events were made"
    )
    clock = p.add_argument_group("clock")
    clock.add_argument("--backfill", action="store_true", help="produce the span as fast as possible")
    clock.add_argument(
        "--speed", type=positive(float), default=1.0, help="event-time speed-up in paced mode (default 1)"
    )
    clock.add_argument(
        "--start", help="first event time, ISO-8601 (default: now, or now - duration if faster)"
    )
    p.add_argument("--seed", type=int, default=42, help="same seed + same start = identical messages")
    faults = p.add_argument_group("faults (per-event probabilities, each counted in the manifest)")
    faults.add_argument("--late-rate", type=_rate)
    faults.add_argument(
        "--late-delay", type=positive(float), default=300.0, help="seconds late events are held back"
    )
    faults.add_argument("--out-of-order-rate", type=_rate)
    faults.add_argument("--duplicate-rate", type=_rate)
    faults.add_argument("--malformed-rate", type=_rate, help="spread evenly over the five malformed kinds")
    faults.add_argument(
        "--all-faults",
        action="store_true",
        help=f"every fault at {FaultConfig.ALL_FAULTS_RATE} unless its own flag is given",
    )
    p.add_argument(
        "--anomaly-rate",
        type=anomaly_rate,
        default=0.0,
        help="per device and anomaly kind, the probability that a minute starts an injected anomaly, "
        f"recorded in the manifest (0..{MAX_ANOMALY_RATE}; default 0: none; "
        f"the demo uses {AnomalyConfig.DEFAULT_RATE})",
    )
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default from configuration)")
    p.add_argument(
        "--manifest", type=Path, help="manifest path (default <home>/manifests/simulate-<time>.json)"
    )
    p.add_argument("--dry-run", action="store_true", help="generate without Kafka (counts only)")
    p.add_argument("--no-progress", action="store_true", help="no live display (logs, CI)")
    p.set_defaults(handler=run)


def _rate(text: str) -> float:
    """A per-event probability (argparse names the flag in the error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def anomaly_rate(text: str) -> float:
    """A per device-minute probability, at most MAX_ANOMALY_RATE (argparse names the flag in the error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number in [0, {MAX_ANOMALY_RATE}], got {text!r}"
        ) from None
    if not 0.0 <= value <= MAX_ANOMALY_RATE:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_ANOMALY_RATE}], got {text}")
    return value


def _vehicles(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_VEHICLES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_VEHICLES}, got {text}")
    return value


def _faults(args: argparse.Namespace) -> FaultConfig:
    default = FaultConfig.ALL_FAULTS_RATE if args.all_faults else 0.0

    def rate(value: float | None) -> float:
        return default if value is None else value

    return FaultConfig(
        late_rate=rate(args.late_rate),
        late_delay_s=args.late_delay,
        out_of_order_rate=rate(args.out_of_order_rate),
        duplicate_rate=rate(args.duplicate_rate),
        malformed_rate=rate(args.malformed_rate),
        seed=args.seed,
    )


def build_config(args: argparse.Namespace, home: Path) -> RunConfig:
    mode = "backfill" if args.backfill else "realtime"
    duration = args.duration
    if mode == "backfill" and duration is None and args.events is None:
        duration = 600.0
    now_ms = epoch_ms(datetime.now(UTC))
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            raise UsageError(f"--start {args.start!r} is not an ISO-8601 time") from None
        start_ms = epoch_ms(start)
    else:
        start_ms = default_start_ms(mode, args.speed, duration, now_ms)
    manifest = args.manifest or home / "manifests" / f"simulate-{time.strftime('%Y%m%dT%H%M%S')}.json"
    return RunConfig(
        world=WorldParams(scenario=args.scenario, vehicles=args.vehicles, seed=args.seed),
        faults=_faults(args),
        anomalies=AnomalyConfig(rate=args.anomaly_rate, seed=args.seed),
        mode=mode,
        speed=args.speed,
        start_ms=start_ms,
        duration_s=duration,
        max_events=args.events,
        manifest_path=manifest,
    )


def _install_stop_handlers(stop: threading.Event) -> None:
    """First Ctrl-C/SIGTERM: stop after the current second, flush, write the manifest. Second: abort."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from smartcity.simulate.progress import print_summary, progress_view

    settings = settings_from(args)
    config = build_config(args, settings.local.state_dir)
    with quiet_libraries(settings, "simulate"):
        topics = settings.topics.all()
        sink = (
            MemorySink(topics) if args.dry_run else KafkaSink(kafka_config(settings, args.bootstrap), topics)
        )
        if isinstance(sink, MemorySink):
            sink.messages = _Discard()  # type: ignore[assignment]  # count without keeping a dry run's messages
        sink.check_connection()
        stop = threading.Event()
        _install_stop_handlers(stop)
        console = Console(stderr=True)
        simulation = Simulation(config, sink)
        if args.no_progress:
            manifest = simulation.run(stop)
        else:
            with progress_view(console) as view:
                manifest = simulation.run(stop, on_progress=view)
        print_summary(manifest, console)
        console.print(f"manifest: {config.manifest_path}", highlight=False)
    return 0 if manifest["complete"] else 1


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        return None
