"""Which job a checkpoint belongs to, checked before the streaming job starts.

Spark's Kafka offsets, the enrichment state and the publish records all live under the checkpoint URI.
Pointed at another job's checkpoint (another lake, other topics), the job would append to the wrong
lake or skip offsets; pointed at a checkpoint it cannot read, it could start again from the first
offset and publish everything twice. So the first start writes ``owner.json`` (the lake URI and the
topics) and every later start compares it, stopping with one line when it differs or cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from smartcity.errors import SmartCityError
from smartcity.stream.hadoop_fs import HadoopFS, join_uri

OWNER_FILE = "owner.json"


class CheckpointError(SmartCityError):
    """The checkpoint belongs to another job or cannot be read."""


def _first_line(exc: Exception) -> str:
    """The error's first line; for a Java error through Py4J, the Java exception's own (the Python one
    only names the call, e.g. ``An error occurred while calling o57.open.``)."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0][:300]


def check_owner(fs: HadoopFS, checkpoint_uri: str, *, lake_uri: str, topics: Iterable[str]) -> None:
    """Claim an unclaimed checkpoint for this job, or stop if it is another job's or unreadable.

    A checkpoint written before owner files existed has none; it is claimed like an empty one.
    """
    uri = join_uri(checkpoint_uri, OWNER_FILE)
    expected: dict[str, Any] = {"lake_uri": lake_uri.rstrip("/"), "topics": sorted(topics)}
    try:
        text = fs.read_text(uri)
    except Exception as exc:  # Py4J wraps the filesystem's error (permissions, a file where a folder is)
        raise CheckpointError(f"checkpoint {checkpoint_uri} cannot be read: {_first_line(exc)}") from None
    if text is None:
        try:
            fs.write_text(uri, json.dumps(expected, sort_keys=True))
        except Exception as exc:
            raise CheckpointError(
                f"checkpoint {checkpoint_uri} cannot be claimed: {_first_line(exc)}"
            ) from None
        return
    try:
        found = json.loads(text)
        owner = {"lake_uri": found["lake_uri"], "topics": sorted(found["topics"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {checkpoint_uri} has an unreadable {OWNER_FILE} ({_first_line(exc)}): "
            "restore it, or give this job a new checkpoint URI"
        ) from None
    if owner != expected:
        raise CheckpointError(
            f"checkpoint {checkpoint_uri} belongs to another job (lake {owner['lake_uri']}, topics "
            f"{', '.join(owner['topics'])}), not to this one (lake {expected['lake_uri']}, topics "
            f"{', '.join(expected['topics'])}): give each job its own checkpoint URI"
        )
