"""CloudFormation custom-resource protocol and the pure decisions of the two custom resources.

Why hand-written: the protocol is one HTTPS PUT of a JSON document to a pre-signed URL; a dependency
(crhelper) would add more than it saves. ``respond`` must be called exactly once, on every path,
or the stack waits for the timeout (an hour), so the handlers wrap all work in ``run``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Responses larger than 4 KiB are rejected by CloudFormation; reasons are truncated well below that.
_MAX_REASON = 1000


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
    payload = json.dumps(body).encode()
    req = urllib.request.Request(
        event["ResponseURL"],
        data=payload,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(payload))},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def run(
    event: dict[str, Any],
    work: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
    log: Callable[[str, Exception], None],
    send: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Do ``work`` (returns physical id and data) and always answer CloudFormation, SUCCESS or FAILED."""
    fallback_id = event.get("PhysicalResourceId") or event["LogicalResourceId"]
    try:
        physical_id, data = work(event)
        body = response_body(event, "SUCCESS", physical_id, data, "ok")
    except Exception as exc:  # every failure must reach CloudFormation, never hang the stack
        log("custom resource failed", exc)
        body = response_body(event, "FAILED", fallback_id, None, f"{type(exc).__name__}: {exc}")
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


def package_zip(package_dir: Path) -> bytes:
    """A reproducible zip of a Python package (same bytes for the same files), for ``--extra-py-files``."""
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


def fetch_verified(url: str, timeout: float = 60.0) -> bytes:
    """Download an artifact and check it against the SHA-1 file its Maven repository publishes beside it."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data = resp.read()
    with urllib.request.urlopen(url + ".sha1", timeout=timeout) as resp:
        expected = resp.read().decode().split()[0].strip().lower()
    actual = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    if actual != expected:
        raise ValueError(f"checksum mismatch for {url}: {actual} != {expected}")
    return data
