"""SmartcityLayer holds what the Lambda handlers and Glue jobs import, and that alone imports."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "functions" / "smartcity_layer" / "layer_files.py"


def _layer_files() -> list[Path]:
    spec = importlib.util.spec_from_file_location("layer_files", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entries = sorted(p for pattern in module.ENTRY_GLOBS for p in ROOT.glob(pattern))
    return module.layer_files(ROOT / "smartcity", entries)


def test_every_module_in_the_layer_imports_from_the_layer_alone(tmp_path: Path) -> None:
    files = _layer_files()
    for rel in files:
        (tmp_path / "smartcity" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "smartcity" / rel, tmp_path / "smartcity" / rel)
    modules = [
        ".".join(("smartcity", *rel.with_suffix("").parts)).removesuffix(".__init__")
        for rel in files
        if rel.suffix == ".py"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(tmp_path)!r}), module.__file__\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,  # not the repository, whose smartcity/ would come first
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_local_stack_the_cli_and_the_warehouse_sql_are_where_they_belong() -> None:
    files = {str(f) for f in _layer_files()}
    assert {"orchestrate/service.py", "stream/job.py", "warehouse/transform.py"} <= files
    assert any(f.startswith("warehouse/sql/redshift/") for f in files)  # data the Glue load reads
    assert not any(f.startswith(("local/", "commands/", "demo/", "query/")) or f == "cli.py" for f in files)
