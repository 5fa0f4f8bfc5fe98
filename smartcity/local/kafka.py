"""A single-node Apache Kafka broker in KRaft mode, run with the machine's Java from the cached jars."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from smartcity.config import Settings
from smartcity.errors import StackError
from smartcity.local import jvm, runlog
from smartcity.local.component import Component
from smartcity.local.process import ProcessRecord, port_accepts, spawn, wait_until
from smartcity.simulate.sinks import KAFKA_CLIENT_LOGGER

# The broker's own log: in the run directory of the ``up`` that started it, size-capped and rotated.
LOG4J = """\
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log}
log4j.appender.file.MaxFileSize={max_bytes}
log4j.appender.file.MaxBackupIndex={backups}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


class KafkaBroker(Component):
    """Broker + controller in one JVM; storage formatted on first start; topics created on ``start``."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dir = self.home / "kafka"
        self.data_dir = self.dir / "data"
        self.port = settings.local.kafka_port
        self.controller_port = settings.local.kafka_controller_port

    @property
    def ports(self) -> list[int]:
        return [self.port, self.controller_port]

    def _write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.settings.topics.partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "168",
        }
        config = self.dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.dir / "log4j.properties").write_text(
            LOG4J.format(log=self._server_log(), max_bytes=runlog.MAX_LOG_BYTES, backups=runlog.LOG_BACKUPS)
        )
        return config

    def _server_log(self) -> Path:
        """The broker's log4j file in this run's log directory; ``kafka/server.log`` links to it."""
        target = runlog.current(self.home, "up").path("kafka-server.log")
        link = self.dir / "server.log"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        return target

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise StackError("Java 17 ('java') is not on PATH: the local Kafka broker needs it")
        return java

    def _format_storage(self, config: Path, classpath: str) -> None:
        """KRaft needs its log directory formatted once with a cluster id."""
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = uuid.uuid4().hex[:22]
        proc = subprocess.run(
            [
                self._java(),
                "-cp",
                classpath,
                f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise StackError(f"Kafka storage format failed: {(proc.stderr or proc.stdout).strip()[-200:]}")

    def launch(self) -> ProcessRecord:
        classpath = jvm.resolve("kafka", verify_hashes=False).as_java_classpath()
        config = self._write_config()
        self._format_storage(config, classpath)
        cmd = [
            self._java(),
            f"-Xmx{self.settings.local.kafka_heap}",
            f"-Xms{self.settings.local.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        return spawn(self.name, cmd, log=self.log_path, port=self.port)

    def wait_ready(self, record: ProcessRecord) -> None:
        timeout = self.settings.local.start_timeout_s
        wait_until(
            lambda: port_accepts(self.port),
            timeout=timeout,
            what="Kafka",
            record=record,
            log=self.dir / "server.log",
        )
        self.ensure_topics(deadline=time.monotonic() + timeout)

    def admin(self) -> AdminClient:
        return AdminClient(
            {
                "bootstrap.servers": f"127.0.0.1:{self.port}",
                "socket.timeout.ms": 5000,
                "logger": logging.getLogger(KAFKA_CLIENT_LOGGER),
            }
        )

    def ensure_topics(self, deadline: float) -> None:
        """Create the five topics with the configured partition count (idempotent)."""
        wanted = list(self.settings.topics.all().values())
        admin = self.admin()
        while True:
            try:
                existing = set(admin.list_topics(timeout=5).topics)
                missing = [t for t in wanted if t not in existing]
                if missing:
                    futures = admin.create_topics(
                        [NewTopic(t, self.settings.topics.partitions, 1) for t in missing], request_timeout=10
                    )
                    for fut in futures.values():
                        try:
                            fut.result()
                        except KafkaException as exc:
                            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                                raise
                if self._leaders_ready(admin, wanted):
                    return
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise StackError(f"Kafka did not accept topic creation: {exc}") from None
            if time.monotonic() > deadline:
                raise StackError("Kafka topics have no partition leaders yet")
            time.sleep(0.2)

    @staticmethod
    def _leaders_ready(admin: AdminClient, topics: list[str]) -> bool:
        """Producers fail with 'leader not available' until every partition has a leader."""
        metadata = admin.list_topics(timeout=5).topics
        for topic in topics:
            meta = metadata.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                return False
            if any(p.leader < 0 for p in meta.partitions.values()):
                return False
        return True

    def healthy(self) -> bool:
        if not port_accepts(self.port):
            return False
        try:
            topics = self.admin().list_topics(timeout=3).topics
        except KafkaException:
            return False
        return all(t in topics for t in self.settings.topics.all().values()) and self._leaders_ready(
            self.admin(), list(self.settings.topics.all().values())
        )
