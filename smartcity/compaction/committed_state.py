"""The streaming job's clock as compaction reads it: the newest committed state version in the checkpoint."""

from __future__ import annotations

import pyarrow.fs as pafs

from smartcity.stream.state_version import VERSIONS_DIR, StateVersion


def committed_version(fs: pafs.FileSystem, checkpoint_root: str) -> StateVersion | None:
    """The newest committed state version under ``checkpoint_root`` (a path of ``fs``), if any."""
    selector = pafs.FileSelector(f"{checkpoint_root.rstrip('/')}/{VERSIONS_DIR}", allow_not_found=True)
    names = sorted(
        info.path
        for info in fs.get_file_info(selector)
        if info.type == pafs.FileType.File
        and info.base_name.endswith(".json")
        and info.base_name[0].isdigit()
    )
    if not names:
        return None
    with fs.open_input_stream(names[-1]) as f:
        return StateVersion.from_json(f.read().decode())
