"""The custom-resource functions always answer CloudFormation, and before their own deadline.

Each function is run with a Lambda context that leaves it a few seconds, against real local sockets: an
HTTP server that records the answer PUT to the pre-signed ``ResponseURL``, and a slow peer in place of
what the function talks to (a jar host that trickles bytes, an AWS API endpoint or a Kafka broker that
accepts the connection and never replies). No part of urllib, boto3 or kafka-python is mocked.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from smartcity.orchestrate import custom_resource
from smartcity.orchestrate.rollout import plan_rollout

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
BUDGET_S = 1.0  # what the context says is left of the function's time


@dataclass
class Context:
    """A Lambda context whose clock starts when it is made."""

    budget_s: float = BUDGET_S
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def __post_init__(self) -> None:
        self._end = time.monotonic() + self.budget_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


class _Answers(http.server.BaseHTTPRequestHandler):
    received: list[tuple[float, dict[str, Any]]]

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((time.monotonic(), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def answers() -> Iterator[tuple[str, list[tuple[float, dict[str, Any]]]]]:
    """A local stand-in for CloudFormation's pre-signed S3 URL: (url, [(when, body)])."""
    received: list[tuple[float, dict[str, Any]]] = []
    handler = type("Answers", (_Answers,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/answer?X-Amz-Signature=x", received
    server.shutdown()
    server.server_close()


class SlowPeer:
    """A TCP server that accepts, reads what it is sent and then either stays silent or trickles an HTTP
    response one byte at a time: the slow jar host, API endpoint or broker."""

    def __init__(self, trickle_http: bool = False) -> None:
        self.trickle_http = trickle_http
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        with contextlib.suppress(OSError):
            conn.recv(65536)
        if self.trickle_http:
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
            except OSError:
                return
        while not self.stop.is_set():
            if self.trickle_http:
                try:
                    conn.sendall(b"x")
                except OSError:
                    break
            self.stop.wait(0.2)
        conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def slow_peer() -> Iterator[SlowPeer]:
    peer = SlowPeer()
    yield peer
    peer.close()


@pytest.fixture
def trickling_host() -> Iterator[SlowPeer]:
    peer = SlowPeer(trickle_http=True)
    yield peer
    peer.close()


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that sign requests but open nothing; no real endpoint is ever reached."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # Every AWS API a test does not point at its own local server goes to a closed local port.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "test")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cr_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _event(name: str, response_url: str, **props: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text())
    event["ResponseURL"] = response_url
    event["ResourceProperties"].update(props)
    return event


def _assert_failed_in_time(
    received: list[tuple[float, dict[str, Any]]], started: float, body: dict[str, Any], *words: str
) -> None:
    assert len(received) == 1, received
    when, answer = received[0]
    assert answer == body and answer["Status"] == "FAILED"
    assert when - started < BUDGET_S, f"answered after {when - started:.1f} s; the function had {BUDGET_S} s"
    for word in words:
        assert word in answer["Reason"], answer["Reason"]


def test_glue_library_answers_failed_before_its_deadline_when_the_jar_host_trickles(
    answers: tuple[str, list[tuple[float, dict[str, Any]]]],
    trickling_host: SlowPeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = answers
    monkeypatch.setenv("SMARTCITY_PACKAGE_DIR", str(ROOT / "smartcity"))
    jar = f"http://127.0.0.1:{trickling_host.port}/maven2/x/y/1.0/y-1.0.jar"
    event = _event("glue-library-create.json", url, Jars=[jar])
    handler = _load("glue_library").handler
    started = time.monotonic()
    body = handler(event, Context())
    assert trickling_host.connections >= 1, "the download never started"
    _assert_failed_in_time(received, started, body, "TimeoutError")


def test_glue_library_fails_with_a_reason_when_the_package_folder_is_missing(
    answers: tuple[str, list[tuple[float, dict[str, Any]]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = answers
    monkeypatch.setenv("SMARTCITY_PACKAGE_DIR", str(tmp_path / "python" / "smartcity"))
    handler = _load("glue_library").handler
    started = time.monotonic()
    body = handler(_event("glue-library-create.json", url), Context())
    _assert_failed_in_time(received, started, body, "FileNotFoundError", "smartcity")


def test_msk_bootstrap_answers_failed_before_its_deadline_when_the_msk_api_does_not_reply(
    answers: tuple[str, list[tuple[float, dict[str, Any]]]],
    slow_peer: SlowPeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = answers
    monkeypatch.setenv("AWS_ENDPOINT_URL_KAFKA", f"http://127.0.0.1:{slow_peer.port}")
    event = _event("msk-topics-create.json", url)
    event["LogicalResourceId"], event["ResourceType"] = "MskBootstrap", "Custom::MskBootstrap"
    handler = _load("msk_bootstrap").handler
    started = time.monotonic()
    body = handler(event, Context())
    assert slow_peer.connections >= 1, "the MSK API was never called"
    _assert_failed_in_time(received, started, body, "TimeoutError")


def test_msk_topics_answers_failed_before_its_deadline_when_the_broker_does_not_reply(
    answers: tuple[str, list[tuple[float, dict[str, Any]]]], slow_peer: SlowPeer
) -> None:
    url, received = answers
    event = _event("msk-topics-create.json", url, BootstrapBrokers=f"127.0.0.1:{slow_peer.port}")
    handler = _load("msk_topics").handler
    started = time.monotonic()
    body = handler(event, Context())
    _assert_failed_in_time(received, started, body, "TimeoutError")


def test_streaming_rollout_answers_failed_before_its_deadline_when_the_glue_api_does_not_reply(
    answers: tuple[str, list[tuple[float, dict[str, Any]]]],
    slow_peer: SlowPeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = answers
    monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", f"http://127.0.0.1:{slow_peer.port}")
    event = _event("glue-library-create.json", url)
    event["LogicalResourceId"], event["ResourceType"] = "StreamingJobRollout", "Custom::StreamingJobRollout"
    event["ResourceProperties"] = {"ServiceToken": "arn:x", "JobName": "smartcity-streaming", "Artifacts": []}
    handler = _load("streaming_rollout").handler
    started = time.monotonic()
    body = handler(event, Context())
    assert slow_peer.connections >= 1, "the Glue API was never called"
    _assert_failed_in_time(received, started, body, "TimeoutError")


def test_run_answers_once_even_when_the_work_finishes_after_the_deadline(
    answers: tuple[str, list[tuple[float, dict[str, Any]]]],
) -> None:
    url, received = answers
    event = _event("glue-library-create.json", url)
    done = threading.Event()

    def late(_e: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        time.sleep(0.8)
        done.set()
        return "late", {}

    started = time.monotonic()
    body = custom_resource.run(event, late, lambda m, e: None, deadline=time.monotonic() + 0.5)
    assert body["Status"] == "FAILED" and time.monotonic() - started < 0.5
    done.wait(3)
    time.sleep(0.2)
    assert len(received) == 1 and received[0][1] == body


# -- the rollout decision --------------------------------------------------------------------------------

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _run(run_id: str, state: str, started: datetime) -> dict[str, Any]:
    return {"Id": run_id, "JobRunState": state, "StartedOn": started}


def test_rollout_starts_a_job_without_an_active_run() -> None:
    plan = plan_rollout(T0, [_run("a", "STOPPED", T0 - timedelta(hours=1)), _run("b", "FAILED", T0)])
    assert plan.action == "start"


def test_rollout_restarts_a_run_started_before_the_jobs_last_change() -> None:
    plan = plan_rollout(T0, [_run("a", "RUNNING", T0 - timedelta(minutes=5))])
    assert (plan.action, plan.run_id) == ("restart", "a")


def test_rollout_leaves_a_current_run_and_waits_for_a_stopping_one() -> None:
    assert plan_rollout(T0, [_run("a", "RUNNING", T0 + timedelta(seconds=1))]).action == "none"
    assert plan_rollout(T0, [_run("a", "STOPPING", T0 - timedelta(hours=1))]).action == "wait"


def test_glue_library_publishes_the_package_and_the_zip_of_wheels(
    answers: tuple[str, list[tuple[float, dict[str, Any]]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The happy path, against moto's S3: the package zip and the wheels zip (its folder holds wheels and
    requirements.txt, no Python source) are both published and named in the SUCCESS answer."""
    import io
    import zipfile

    moto = pytest.importorskip("moto")
    import boto3

    url, received = answers
    wheels = tmp_path / "glue-wheels" / "wheels"
    wheels.mkdir(parents=True)
    (wheels / "requirements.txt").write_text("example==1.0\n")
    with zipfile.ZipFile(wheels / "example-1.0-py3-none-any.whl", "w") as whl:
        whl.writestr("example/__init__.py", "")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("SMARTCITY_PACKAGE_DIR", str(ROOT / "smartcity"))
    monkeypatch.setenv("GLUE_WHEELS_DIR", str(wheels))
    event = _event("glue-library-create.json", url, WheelsLayerVersion="arn:aws:lambda:us-east-1:1:layer:W:1")
    bucket = event["ResourceProperties"]["Bucket"]
    handler = _load("glue_library").handler
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        body = handler(event, Context(budget_s=60))
        assert body["Status"] == "SUCCESS", body["Reason"]
        modules = body["Data"]["Modules"].removeprefix(f"s3://{bucket}/")
        data = s3.get_object(Bucket=bucket, Key=modules)["Body"].read()
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == [
        "wheels/example-1.0-py3-none-any.whl",
        "wheels/requirements.txt",
    ]
    assert [answer for _, answer in received] == [body]
