"""The foundation end to end: the real broker, Spark's Kafka connector, PostgreSQL and the catalog API."""

from __future__ import annotations

import json
import time

import boto3
import psutil
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from smartcity.config import Stream
from smartcity.local.stack import LocalStack, private_stack_settings

pytestmark = [pytest.mark.integration, pytest.mark.stack, pytest.mark.spark]

MESSAGES_PER_TOPIC = 10_000


def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    delivered: list[int] = []

    def on_delivery(err, msg) -> None:
        assert err is None, err
        delivered.append(1)

    for i in range(n):
        body = json.dumps({"id": f"{topic}-{i}", "deviceId": f"dev-{i % 50}", "seq": i}).encode()
        while True:
            try:
                producer.produce(topic, key=f"dev-{i % 50}", value=body, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(30)
    assert len(delivered) == n


def _consume_all(bootstrap: str, topic: str, partitions: int, n: int) -> set[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    ids: set[str] = set()
    deadline = time.monotonic() + 60
    while len(ids) < n and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=1.0):
            assert msg.error() is None, msg.error()
            ids.add(json.loads(msg.value())["id"])
    consumer.close()
    return ids


def test_stack_round_trip_through_every_component(tmp_path) -> None:
    settings = private_stack_settings(tmp_path / "home")
    stack = LocalStack(settings)
    report = stack.up()
    assert sorted(report.started) == ["kafka", "moto", "postgres"]
    pids = stack.pids()
    assert len(pids) == 3
    try:
        # `up` again reuses every running component.
        again = stack.up()
        assert again.started == [] and stack.pids() == pids

        bootstrap = settings.kafka.bootstrap_servers
        topics = settings.topics.all()
        for topic in topics.values():
            _produce(bootstrap, topic, MESSAGES_PER_TOPIC)
        for topic in topics.values():
            ids = _consume_all(bootstrap, topic, settings.topics.partitions, MESSAGES_PER_TOPIC)
            assert ids == {f"{topic}-{i}" for i in range(MESSAGES_PER_TOPIC)}

        # Spark Structured Streaming through the real Kafka connector reads every message once.
        from smartcity.spark import local_session

        spark = local_session("foundation-test")
        stream = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", ",".join(topics.values()))
            .option("startingOffsets", "earliest")
            .load()
        )
        query = (
            stream.selectExpr("topic", "CAST(value AS STRING) AS value")
            .writeStream.format("memory")
            .queryName("foundation_sink")
            .option("checkpointLocation", str(tmp_path / "ckpt"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(180)
        rows = spark.sql(
            "SELECT topic, count(*) AS n, count(DISTINCT get_json_object(value, '$.id')) AS d "
            "FROM foundation_sink GROUP BY topic"
        ).collect()
        assert {r["topic"]: (r["n"], r["d"]) for r in rows} == {
            t: (MESSAGES_PER_TOPIC, MESSAGES_PER_TOPIC) for t in topics.values()
        }

        # PostgreSQL: a real server, a row written and read back.
        with psycopg.connect(settings.warehouse_dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE probe (id int PRIMARY KEY, stream text)")
            conn.execute("INSERT INTO probe VALUES (1, %s)", (Stream.VEHICLE.value,))
            assert conn.execute("SELECT stream FROM probe WHERE id = 1").fetchone() == ("vehicle",)

        # The Glue Data Catalog API served by moto.
        glue = boto3.client("glue", **settings.boto3_kwargs())
        glue.create_database(DatabaseInput={"Name": settings.catalog_database})
        glue.create_table(
            DatabaseName=settings.catalog_database,
            TableInput={
                "Name": "probe",
                "StorageDescriptor": {
                    "Columns": [{"Name": "id", "Type": "int"}],
                    "Location": settings.lake_uri + "/probe/",
                },
            },
        )
        table = glue.get_table(DatabaseName=settings.catalog_database, Name="probe")["Table"]
        assert table["StorageDescriptor"]["Columns"] == [{"Name": "id", "Type": "int"}]
    finally:
        stack.down()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not stack.is_up()
