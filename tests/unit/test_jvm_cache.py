"""The jar cache: verified by checksum, a no-op without Maven once cached, repaired when corrupt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smartcity.errors import StackError
from smartcity.local import jvm

pytestmark = pytest.mark.unit


@pytest.fixture()
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the real cache in a temp dir, so corrupting it does not touch the developer's."""
    source = jvm.resolve("spark").directory
    target = tmp_path / "cache"
    shutil.copytree(source, target / source.name)
    monkeypatch.setenv("SMARTCITY_JAR_CACHE", str(target))
    return target / source.name


def test_cached_classpath_resolves_without_maven(private_cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    cp = jvm.resolve("spark")
    assert cp.directory == private_cache
    assert any(j.name.startswith("spark-sql-kafka-0-10_2.12-") for j in cp.jars)


def test_corrupt_jar_is_detected_and_needs_maven(private_cache: Path, monkeypatch) -> None:
    jar = next(private_cache.glob("kafka-clients-*.jar"))
    jar.write_bytes(b"not a jar")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match="Maven"):
        jvm.resolve("spark")


@pytest.mark.jvm  # Maven fetches the jar again
def test_corrupt_jar_is_replaced_by_a_verified_one(private_cache: Path) -> None:
    jar = next(private_cache.glob("kafka-clients-*.jar"))
    jar.write_bytes(b"not a jar")
    cp = jvm.resolve("spark")
    assert jar.read_bytes()[:2] == b"PK" and jar in cp.jars


def test_spark_extra_jars_skip_what_pyspark_ships() -> None:
    names = [j.name for j in jvm.spark_extra_jars()]
    assert any(n.startswith("spark-sql-kafka-0-10_2.12-") for n in names)
    assert any(n.startswith("postgresql-") for n in names)
    assert not any(n.startswith(("hadoop-client", "slf4j-api", "snappy-java")) for n in names)
