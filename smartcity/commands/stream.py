"""``smartcity stream``: run the streaming job locally (Kafka → raw, quarantine, vehicle_enriched)."""

from __future__ import annotations

import argparse
import re

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.errors import UsageError
from smartcity.stream.settings import StreamSettings

_DEFAULTS = StreamSettings()


def _duration(text: str) -> float:
    """``10s``, ``2m``, ``500ms`` or a plain number of seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 2m, 500ms)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("stream", help="run the streaming job (Kafka -> lake) on local Spark")
    add_stack_options(p)
    p.add_argument(
        "--available-now",
        action="store_true",
        help="process everything in Kafka now, close open windows, then stop",
    )
    p.add_argument(
        "--trigger", type=_duration, help=f"micro-batch interval (default {_DEFAULTS.trigger_interval_s:g}s)"
    )
    p.add_argument("--max-offsets", type=int, help="maxOffsetsPerTrigger over all topics")
    p.add_argument(
        "--watermark-delay",
        type=_duration,
        help=f"event-time watermark delay (default {_DEFAULTS.watermark_delay_s:g}s)",
    )
    p.add_argument("--starting-offsets", choices=["earliest", "latest"], help="where a new job starts")
    p.add_argument("--no-flush", action="store_true", help="with --available-now: keep windows open")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from smartcity.spark import local_session
    from smartcity.stream.job import StreamJob
    from smartcity.stream.settings import StreamSettings

    settings = settings_from(args)
    try:
        cfg = StreamSettings.from_settings(
            settings,
            trigger_interval_s=args.trigger,
            max_offsets_per_trigger=args.max_offsets,
            watermark_delay_s=args.watermark_delay,
            starting_offsets=args.starting_offsets,
            flush_on_drain=False if args.no_flush else None,
        )
    except ValueError as exc:
        raise UsageError(f"invalid stream option: {exc}") from None
    spark = local_session("smartcity-stream", shuffle_partitions=cfg.shuffle_partitions, settings=settings)
    job = StreamJob(spark, settings, cfg)
    result = job.run(available_now=args.available_now)
    how = "stopped by signal" if result.stopped_by_signal else "drained" if args.available_now else "stopped"
    print(
        f"smartcity stream: {how} after {result.batches} micro-batches"
        f"{' + drain flush' if result.flushed else ''}; lake at {settings.lake_uri}"
    )
    return 0
