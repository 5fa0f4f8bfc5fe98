"""JVM artifacts from Maven Central: the Kafka broker, Spark's Kafka connector and S3A, never committed.

The manifests are the Maven POMs under ``jvm/`` (checked in). ``resolve`` runs Maven once per manifest
with a strict checksum policy (``-C``: a jar whose SHA-1 does not match the repository's fails the
build) and copies the classpath into a cache directory keyed by the POM's own SHA-256. A lock file
records every jar's SHA-256, so a second run verifies the cache and returns without Maven or network.
Maven is used rather than a hand-written resolver because transitive resolution, version mediation and
checksum verification are exactly what it is for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from smartcity.errors import StackError

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "jvm"
CLASSPATHS = ("kafka", "spark", "s3a")


def cache_root() -> Path:
    """Jar cache shared by every checkout of the project (override with ``SMARTCITY_JAR_CACHE``)."""
    env = os.environ.get("SMARTCITY_JAR_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    return Path(xdg) / "smartcity" / "jvm"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Classpath:
    """A resolved, verified set of jars."""

    name: str
    directory: Path
    jars: tuple[Path, ...]

    def as_java_classpath(self) -> str:
        return os.pathsep.join(str(j) for j in self.jars)


def _manifest(name: str) -> Path:
    pom = MANIFEST_DIR / name / "pom.xml"
    if not pom.is_file():
        raise StackError(f"missing JVM manifest {pom}")
    return pom


def _target_dir(name: str) -> Path:
    pom_hash = _sha256(_manifest(name))[:16]
    return cache_root() / f"{name}-{pom_hash}"


def _read_lock(directory: Path) -> dict[str, str] | None:
    lock = directory / "jars.lock.json"
    if not lock.is_file():
        return None
    try:
        data: dict[str, str] = json.loads(lock.read_text())
    except json.JSONDecodeError:
        return None
    return data


def _verify(directory: Path, lock: dict[str, str], full: bool) -> bool:
    for jar, digest in lock.items():
        path = directory / jar
        if not path.is_file():
            return False
        if full and _sha256(path) != digest:
            return False
    return True


def resolve(name: str, *, verify_hashes: bool = True) -> Classpath:
    """Return the classpath ``name``, resolving it with Maven only if the cache is missing or corrupt."""
    directory = _target_dir(name)
    lock = _read_lock(directory)
    if lock and _verify(directory, lock, full=verify_hashes):
        return Classpath(name, directory, tuple(sorted(directory / j for j in lock)))

    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven ('mvn') is not on PATH: it is needed once to fetch the Kafka and Spark jars")
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-C",
        "-f",
        str(_manifest(name)),
        "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["(no output)"]
        raise StackError(f"Maven could not resolve the {name} jars: {tail[0]}")
    jars = sorted(p for p in staging.iterdir() if p.suffix == ".jar")
    if not jars:
        raise StackError(f"Maven resolved no jars for {name}")
    (staging / "jars.lock.json").write_text(
        json.dumps({p.name: _sha256(p) for p in jars}, indent=1, sort_keys=True)
    )
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    return Classpath(name, directory, tuple(directory / p.name for p in jars))


def resolve_all() -> dict[str, Classpath]:
    return {name: resolve(name) for name in CLASSPATHS}


def spark_extra_jars(name: str = "spark") -> list[Path]:
    """The jars of classpath ``name`` Spark needs, minus those PySpark already ships (no duplicate
    classes): ``spark`` (connectors added to the session) or ``s3a`` (S3A on the driver's classpath)."""
    import pyspark

    shipped = {p.name for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    shipped_artifacts = {_artifact(n) for n in shipped}
    return [j for j in resolve(name, verify_hashes=False).jars if _artifact(j.name) not in shipped_artifacts]


def _artifact(jar_name: str) -> str:
    """``kafka-clients-3.4.1.jar`` → ``kafka-clients``: the name without its version."""
    stem = jar_name.removesuffix(".jar")
    parts = stem.split("-")
    for i, part in enumerate(parts):
        if part[:1].isdigit():
            return "-".join(parts[:i])
    return stem
