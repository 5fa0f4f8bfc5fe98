"""``smartcity stream``: run the streaming job locally (Kafka → raw, quarantine, vehicle_enriched).

Before Spark starts, every flag is checked and the broker must answer, so a stack that is down costs a
few seconds and one line, not minutes of Kafka client retries. SIGTERM or Ctrl-C stops the job between
micro-batches and exits 0 (docs/streaming.md). A broker that stops answering for longer than the broker
patience stops the job with one line and exit code 2, like a broker that is down at start; the next
start resumes from the checkpoint (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from smartcity.commands._broker_watch import BrokerWatch
from smartcity.commands._common import (
    add_stack_options,
    command_line,
    duration_s,
    positive,
    positive_duration_s,
    quiet_libraries,
    settings_from,
)
from smartcity.config import Settings, StreamSettings
from smartcity.errors import SmartCityError, StackError, UsageError
from smartcity.simulate.sinks import KAFKA_CLIENT_LOGGER

if TYPE_CHECKING:
    from smartcity.stream.job import RunResult, StreamJob

_DEFAULTS = StreamSettings()
log = logging.getLogger("smartcity.stream")
# How long the broker has to answer before the job gives up (it is local, or MSK in the same VPC).
KAFKA_CHECK_TIMEOUT_S = 5.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("stream", help="run the streaming job (Kafka -> lake) on local Spark")
    add_stack_options(p)
    p.add_argument(
        "--available-now",
        action="store_true",
        help="process everything in Kafka now, close open windows, then stop",
    )
    p.add_argument(
        "--trigger",
        type=positive_duration_s,
        help=f"micro-batch interval (default {_DEFAULTS.trigger_interval_s:g}s)",
    )
    p.add_argument("--max-offsets", type=positive(int), help="maxOffsetsPerTrigger over all topics")
    p.add_argument(
        "--watermark-delay",
        type=duration_s,
        help=f"event-time watermark delay (default {_DEFAULTS.watermark_delay_s:g}s)",
    )
    p.add_argument("--starting-offsets", choices=["earliest", "latest"], help="where a new job starts")
    p.add_argument("--no-flush", action="store_true", help="with --available-now: keep windows open")
    p.add_argument(
        "--broker-patience",
        type=positive_duration_s,
        help="stop with an error when Kafka has not answered for this long while the job runs "
        f"(default {_DEFAULTS.broker_patience_s:g}s)",
    )
    p.set_defaults(handler=_run)


def _refused_everywhere(address: str, timeout_s: float) -> bool:
    """Whether every ``host:port`` of a bootstrap list refuses a TCP connection: then no broker listens, and
    waiting for the Kafka client's timeout would only delay the same answer."""
    for server in address.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return False
        except ConnectionRefusedError:
            continue
        except (OSError, ValueError):  # unresolvable, unreachable or malformed: the Kafka client will say
            return False
    return True


def require_kafka(settings: Settings, timeout_s: float = KAFKA_CHECK_TIMEOUT_S) -> None:
    """Fail in seconds, with what to do, when the broker does not answer (instead of retrying for minutes);
    at once when nothing listens at its address."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    address = settings.kafka.bootstrap_servers
    if settings.profile == "local":
        hint = f"is the local stack up? run: {command_line('up', '--home', str(settings.local.state_dir))}"
    else:
        hint = "check SMARTCITY_KAFKA__BOOTSTRAP_SERVERS and the network path to the brokers"
    if _refused_everywhere(address, timeout_s):
        raise StackError(f"cannot reach Kafka at {address}: connection refused (nothing listens); {hint}")
    conf = {
        "bootstrap.servers": address,
        "socket.timeout.ms": int(timeout_s * 1000),
        "logger": logging.getLogger(KAFKA_CLIENT_LOGGER),
    }
    if settings.kafka.auth == "msk_iam":
        from smartcity.simulate.sinks import kafka_config

        conf.update(kafka_config(settings))
    try:
        metadata = AdminClient(conf).list_topics(timeout=timeout_s)
    except KafkaException:
        raise StackError(f"cannot reach Kafka at {address} within {timeout_s:g} s; {hint}") from None
    missing = sorted(set(settings.topics.all().values()) - set(metadata.topics))
    if missing:
        up = command_line("up", "--home", str(settings.local.state_dir))
        raise StackError(f"Kafka at {address} has no topic {', '.join(missing)}; run: {up}")


def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        cfg = settings.stream.with_overrides(
            trigger_interval_s=args.trigger,
            max_offsets_per_trigger=args.max_offsets,
            watermark_delay_s=args.watermark_delay,
            starting_offsets=args.starting_offsets,
            flush_on_drain=False if args.no_flush else None,
            broker_patience_s=args.broker_patience,
        )
    except ValueError as exc:
        raise UsageError(f"invalid stream option: {exc}") from None
    stopping = _StopOnSignal()
    with quiet_libraries(settings, "stream") as run:
        require_kafka(settings)
        result = _stream(
            settings, cfg, stopping, available_now=args.available_now, log_file=run.python_log("stream")
        )
    how = "stopped by signal" if result.stopped_by_signal else "drained" if args.available_now else "stopped"
    print(
        f"smartcity stream: {how} after {result.batches} micro-batches"
        f"{' + drain flush' if result.flushed else ''}; lake at {settings.lake_uri}; logs in {run.directory}"
    )
    return 0


class StreamFailed(SmartCityError):
    """The streaming query stopped with an error: the job failed (exit 1), the arguments were fine."""

    exit_code = 1


class _StopOnSignal:
    """SIGTERM/SIGINT from the first moment: before the job exists it is remembered (the job then does
    not start), afterwards it asks the job to stop between micro-batches. Spark's start-up takes long
    enough that a stop during it is common (the demo stops its job as soon as the simulator is done).
    A second signal aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.job: StreamJob | None = None
        self.install()

    def install(self) -> None:
        """(Re)take SIGTERM and SIGINT: PySpark's context installs its own SIGINT handler (cancel all jobs,
        raise KeyboardInterrupt), which must not be the one a Ctrl-C meets."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self)

    def __call__(self, _signum: int, _frame: object) -> None:
        if self.requested:  # a second Ctrl-C: stop waiting for the micro-batch
            raise KeyboardInterrupt
        self.requested = True
        if self.job is not None:
            self.job.request_stop()


def _stream(
    settings: Settings, cfg: StreamSettings, stopping: _StopOnSignal, *, available_now: bool, log_file: Path
) -> RunResult:
    """Start Spark, run the job until drained or signalled, stop Spark (its files go with it)."""
    from smartcity.spark import local_session
    from smartcity.stream.job import RunResult, StreamJob

    if stopping.requested:
        return RunResult(0, False, True)
    spark = local_session(
        "smartcity-stream",
        shuffle_partitions=cfg.shuffle_partitions,
        extra_conf={"spark.ui.showConsoleProgress": "false"},
        settings=settings,
    )
    stopping.install()
    try:
        job = StreamJob(spark, settings, cfg)
        stopping.job = job
        if stopping.requested:
            return RunResult(0, False, True)
        check = lambda: require_kafka(settings)  # noqa: E731
        with BrokerWatch(check, patience_s=cfg.broker_patience_s, on_lost=job.abort) as watch:
            try:
                result = job.run(available_now=available_now, install_signals=False)
            except RuntimeError as exc:  # the query failed: Spark's message is pages of JVM stack
                log.exception("the streaming query failed")
                if watch.is_down():  # Spark's Kafka clients gave up before the patience ran out
                    raise watch.error() from None
                first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                raise StreamFailed(f"{first} (full error in {log_file})") from None
        if watch.lost.is_set():
            raise watch.error()
        return result
    finally:
        spark.stop()
