"""CloudFormation custom-resource protocol and the pure decisions of the two custom resources.

Why hand-written: the protocol is one HTTPS PUT of a JSON document to a pre-signed URL; a dependency
(crhelper) would add more than it saves. ``respond`` must be called exactly once, on every path,
or the stack waits for the resource's ``ServiceTimeout``, so the handlers wrap all work in ``run``, which
also answers FAILED on its own when the work is still busy as the function's deadline approaches (a slow
download or an unanswering broker must never let Lambda kill the function before it has answered).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

# Responses larger than 4 KiB are rejected by CloudFormation; reasons are truncated well below that.
_MAX_REASON = 1000
# Time kept back from the function's deadline to send the answer: a quarter of what is left, at most this.
ANSWER_RESERVE_S = 10.0


class HasRemainingTime(Protocol):
    """The part of the Lambda context ``deadline_of`` needs."""

    def get_remaining_time_in_millis(self) -> int: ...


def deadline_of(context: HasRemainingTime) -> float:
    """The function's own deadline as a ``time.monotonic()`` value."""
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000.0


def answer_reserve(deadline: float) -> float:
    """Seconds kept for the answer itself when the work must stop at ``deadline``."""
    return min(ANSWER_RESERVE_S, max(0.0, deadline - time.monotonic()) / 4)


def seconds_left(deadline: float) -> float:
    """Seconds the work may still take (the answer's reserve excluded); raises once none are left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the function's deadline has passed")
    return left


def response_body(
    event: dict[str, Any], status: str, physical_id: str, data: dict[str, Any] | None, reason: str = ""
) -> dict[str, Any]:
    return {
        "Status": status,
        "Reason": (reason or "see the function's CloudWatch logs")[:_MAX_REASON],
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": data or {},
    }


def respond(event: dict[str, Any], body: dict[str, Any]) -> None:
    """PUT the answer to CloudFormation's pre-signed S3 URL, within the answer's reserve of time."""
    payload = json.dumps(body).encode()
    req = urllib.request.Request(
        event["ResponseURL"],
        data=payload,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    with urllib.request.urlopen(req, timeout=ANSWER_RESERVE_S) as resp:
        resp.read()


Work = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]


def run(
    event: dict[str, Any],
    work: Work,
    log: Callable[[str, Exception], None],
    send: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Do ``work`` (returns physical id and data) and always answer CloudFormation, SUCCESS or FAILED.

    With a ``deadline`` (``deadline_of(context)``) the work runs in a daemon thread and is abandoned, with a
    FAILED answer naming the timeout, once only the answer's reserve is left before the deadline. An
    abandoned worker may still finish when Lambda thaws the environment for a later call, so every ``work``
    here is idempotent (content-addressed uploads, topic plans, the rollout's own checks).
    """
    fallback_id = event.get("PhysicalResourceId") or event["LogicalResourceId"]
    outcome: list[tuple[str, dict[str, Any]] | BaseException] = []

    def attempt() -> None:
        try:
            outcome.append(work(event))
        except BaseException as exc:  # every failure must reach CloudFormation, never hang the stack
            outcome.append(exc)

    if deadline is None:
        attempt()
    else:
        budget = max(0.0, deadline - time.monotonic() - answer_reserve(deadline))
        worker = threading.Thread(target=attempt, name="custom-resource-work", daemon=True)
        worker.start()
        worker.join(budget)
        if not outcome:
            outcome.append(
                TimeoutError(
                    f"{event['RequestType']} did not finish within {budget:.0f} s,"
                    " before the function's timeout"
                )
            )
    result = outcome[0]
    if isinstance(result, BaseException):
        exc = result if isinstance(result, Exception) else RuntimeError(repr(result))
        log("custom resource failed", exc)
        body = response_body(event, "FAILED", fallback_id, None, f"{type(exc).__name__}: {exc}")
    else:
        physical_id, data = result
        body = response_body(event, "SUCCESS", physical_id, data, "ok")
    (send or respond)(event, body)
    return body


# -- topics --------------------------------------------------------------------------------------------


def parse_topics(spec: list[str] | str) -> dict[str, int]:
    """``["vehicle_data:3", ...]`` (or a comma-separated string) → {topic: partitions}."""
    items = spec.split(",") if isinstance(spec, str) else spec
    topics: dict[str, int] = {}
    for item in items:
        name, sep, count = str(item).strip().partition(":")
        if not name or not sep or not count.isdigit() or int(count) < 1:
            raise ValueError(f"bad topic spec {item!r}: expected name:partitions with partitions >= 1")
        topics[name] = int(count)
    return topics


def plan_topics(desired: dict[str, int], existing: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """Topics to create and topics whose partition count must grow; shrinking is impossible in Kafka."""
    create = {t: n for t, n in desired.items() if t not in existing}
    grow = {t: n for t, n in desired.items() if t in existing and n > existing[t]}
    shrink = [t for t, n in desired.items() if t in existing and n < existing[t]]
    if shrink:
        raise ValueError(f"cannot reduce the partition count of {', '.join(sorted(shrink))}")
    return create, grow


# -- the Glue library ----------------------------------------------------------------------------------


def package_zip(package_dir: Path, must_hold: str = "*.py") -> bytes:
    """A reproducible zip of a folder (same bytes for the same files), e.g. a package for --extra-py-files.

    Refuses a folder that is missing or holds no file matching ``must_hold``: an empty zip would deploy Glue
    jobs that fail at their first import.
    """
    if not package_dir.is_dir() or not any(package_dir.rglob(must_hold)):
        raise FileNotFoundError(
            f"{package_dir} holds no {must_hold} files: is the layer that carries it attached?"
        )
    buf = io.BytesIO()
    root = package_dir.parent
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package_dir.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(
                str(path.relative_to(root)).replace(os.sep, "/"), date_time=(1980, 1, 1, 0, 0, 0)
            )
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def library_key(prefix: str, data: bytes) -> str:
    """Content-addressed key: a changed package gets a new key, so Glue never runs a stale cached copy."""
    return f"{prefix}smartcity-{hashlib.sha256(data).hexdigest()[:16]}.zip"


_CHUNK = 1 << 16
_SOCKET_TIMEOUT_S = 30.0


def fetch(url: str, deadline: float) -> bytes:
    """GET ``url``, giving up with ``TimeoutError`` at ``deadline`` even when bytes keep trickling in."""
    with urllib.request.urlopen(url, timeout=min(_SOCKET_TIMEOUT_S, seconds_left(deadline))) as resp:
        chunks: list[bytes] = []
        while chunk := resp.read(_CHUNK):
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"downloading {url} did not finish in time")
    return b"".join(chunks)


def fetch_verified(url: str, deadline: float) -> bytes:
    """Download an artifact and check it against the SHA-1 file its Maven repository publishes beside it."""
    data = fetch(url, deadline)
    expected = fetch(url + ".sha1", deadline).decode().split()[0].strip().lower()
    actual = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    if actual != expected:
        raise ValueError(f"checksum mismatch for {url}: {actual} != {expected}")
    return data
