"""The simulator Lambda as ``sam build`` packages it (no Docker) actually runs on the python3.11 runtime.

Why a separate module: the simulator is the only function with a native Kafka client. confluent-kafka's
wheels from 2.5.0 on are manylinux_2_28, but the python3.11 runtime is Amazon Linux 2 (glibc 2.26), so
``simulator/requirements.txt`` pins the last manylinux2014 release. These tests prove, on the build
output alone, that (1) the pins are what got packaged, (2) no native library needs a glibc newer than the
runtime's, and (3) the handler imports and the producer works with that older client: the MSK IAM
configuration is accepted, its ``oauth_cb`` is served by ``poll()`` with an expiry in seconds, and
every message produced to librdkafka's built-in mock cluster is acknowledged by a delivery report.

Skips only when ``.venv-iac`` (the SAM CLI's own venv, see docs/deploy.md 'Tooling') is missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.iac]

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-iac" / "bin" / "sam"
REQUIREMENTS = ROOT / "simulator" / "requirements.txt"
FUNCTION = "SimulatorFunction"
LAMBDA_GLIBC = (2, 26)  # Amazon Linux 2, the OS of the python3.11 runtime

# Runs in a fresh interpreter with -I -S and only the build output on sys.path (function code first, then
# the layer's python/), exactly the two places Lambda puts on the path for this function.
PROBE = r"""
import json, sys, time
sys.path[:0] = sys.argv[1:3]
import app  # the handler module, imported the way Lambda imports it
import aws_msk_iam_sasl_signer
import confluent_kafka
from smartcity.config import Settings, Stream
from smartcity.simulate.faults import CATEGORIES
from smartcity.simulate.sinks import KafkaSink, kafka_config

aws = Settings(profile="aws", lake_uri="s3://bucket/lake/", checkpoint_uri="s3://bucket/checkpoints/",
               kafka={"bootstrap_servers": "b-1.smartcity.invalid:9098"})
conf = kafka_config(aws)
token_cb = conf["oauth_cb"]
tokens = []
def recording_cb(oauth_config):
    tokens.append(token_cb(oauth_config))
    return tokens[-1]
msk = KafkaSink({**conf, "oauth_cb": recording_cb}, aws.topics.all())
deadline = time.monotonic() + 10
while not tokens and time.monotonic() < deadline:
    msk.poll()  # what the burst does while producing; confluent-kafka 2.4.0 serves oauth_cb here
    time.sleep(0.05)

local = Settings(profile="local")
sink = KafkaSink(kafka_config(local, **{"test.mock.num.brokers": 1}), local.topics.all())
streams = list(Stream)
for i in range(5000):
    sink.send(streams[i % 5], f"dev-{i % 37}", json.dumps({"i": i}), CATEGORIES[i % len(CATEGORIES)])
undelivered = sink.close(30)
print(json.dumps({
    "confluent_kafka": confluent_kafka.version()[0],
    "librdkafka": confluent_kafka.libversion()[0],
    "loaded_from": [confluent_kafka.__file__, aws_msk_iam_sasl_signer.__file__, app.__file__],
    "smartcity_from": sys.modules["smartcity.config"].__file__,
    "token_expiry": [t[1] for t in tokens],
    "token_is_str": all(isinstance(t[0], str) and t[0] for t in tokens),
    "now": time.time(),
    "undelivered": undelivered,
    "produced": sink.counts.total(0),
    "acknowledged": sink.counts.total(1),
    "failed": sink.counts.total(2),
    "per_topic": sink.counts.per_topic(1),
    "last_error": sink.counts.last_error,
}))
"""


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            pins[name.strip().lower().replace("-", "_")] = version.strip()
    return pins


def _env() -> dict[str, str]:
    # Offline and credential-free: no AWS_* from the caller, no telemetry.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMARTCITY_"))}
    env.update(AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0")
    return env


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SAM.exists():
        pytest.skip(f"{SAM.relative_to(ROOT)} missing: create it with docs/deploy.md 'Tooling' (CI does)")
    out = tmp_path_factory.mktemp("samsim") / "build"
    # Building one function also builds the layers it references (SmartcityLayer).
    where = ["--base-dir", ".", "--build-dir", str(out), "--cache-dir", str(ROOT / ".aws-sam" / "cache")]
    done = subprocess.run(
        [str(SAM), "build", FUNCTION, "-t", "template.yaml", *where, "--cached"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    log = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0 and "Build Succeeded" in done.stdout, log
    return out


def test_build_packages_exactly_the_pinned_versions(build: Path) -> None:
    code = build / FUNCTION
    installed = {
        m.group(1).lower(): m.group(2)
        for d in code.glob("*.dist-info")
        if (m := re.fullmatch(r"(.+)-([^-]+)\.dist-info", d.name))
    }
    for name, version in _pins().items():
        assert installed.get(name) == version, f"{name}: pinned {version}, built {installed.get(name)}"
    assert (code / "app.py").is_file()
    assert (build / "SmartcityLayer" / "python" / "smartcity" / "simulate" / "burst.py").is_file()
    wheel = (code / f"confluent_kafka-{_pins()['confluent_kafka']}.dist-info" / "WHEEL").read_text()
    assert "manylinux2014_x86_64" in wheel and "manylinux_2_28" not in wheel, wheel


def test_no_native_library_needs_a_newer_glibc_than_the_runtime(build: Path) -> None:
    # The highest GLIBC_x.y symbol version an ELF file references is the glibc it needs to load.
    native = [p for p in (build / FUNCTION).rglob("*.so*") if p.is_file()]
    assert any("librdkafka" in p.name for p in native), "librdkafka missing from the build"
    too_new = {}
    for path in native:
        found = {(int(a), int(b)) for a, b in re.findall(rb"GLIBC_(\d+)\.(\d+)", path.read_bytes())}
        if found and max(found) > LAMBDA_GLIBC:
            too_new[str(path.relative_to(build))] = "{}.{}".format(*max(found))
    assert not too_new, f"need glibc newer than {LAMBDA_GLIBC}: {too_new}"


def test_built_handler_imports_and_produces_with_the_pinned_client(build: Path) -> None:
    code = build / FUNCTION
    layer = build / "SmartcityLayer" / "python"
    env = {
        **_env(),
        "POWERTOOLS_METRICS_NAMESPACE": "t",
        # Static placeholder keys: SigV4 signing of the MSK token is local, nothing is sent anywhere.
        "AWS_ACCESS_KEY_ID": "smartcity-test",
        "AWS_SECRET_ACCESS_KEY": "smartcity-test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    probe = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(code), str(layer)],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    pinned = _pins()["confluent_kafka"]
    assert result["confluent_kafka"] == pinned and result["librdkafka"].startswith(pinned), result
    assert all(Path(f).is_relative_to(code) for f in result["loaded_from"]), result["loaded_from"]
    assert Path(result["smartcity_from"]).is_relative_to(layer), result["smartcity_from"]
    # oauth_cb was served by poll() and returned seconds (the signer gives ms; MSK tokens live 15 min).
    assert result["token_is_str"] and len(result["token_expiry"]) == 1, result
    assert 0 < result["token_expiry"][0] - result["now"] <= 3600, result
    assert result["undelivered"] == 0 and result["failed"] == 0, result
    assert result["produced"] == result["acknowledged"] == 5000, result
    assert sorted(result["per_topic"].values()) == [1000] * 5, result["per_topic"]
