"""The local Python worker daemon: zip archives' importers keep their directory across tasks, imports work."""

from __future__ import annotations

import importlib
import sys
import zipfile
import zipimport
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartcity.local.pyspark_daemon import ArchiveImporter, keep_archive_directories

pytestmark = pytest.mark.unit


@pytest.fixture
def archive_on_path(tmp_path: Path) -> Iterator[Path]:
    """A zip with one module on ``sys.path``, with the import system restored afterwards."""
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped_mod_a.py", "VALUE = 'a'\n")
    saved_hooks, saved_path = list(sys.path_hooks), list(sys.path)
    sys.path.insert(0, str(archive))
    try:
        yield archive
    finally:
        sys.path[:] = saved_path
        sys.path_hooks[:] = saved_hooks
        sys.path_importer_cache.pop(str(archive), None)
        for name in ("zipped_mod_a", "zipped_mod_b"):
            sys.modules.pop(name, None)


def test_archive_importers_no_longer_reread_their_directory(archive_on_path: Path) -> None:
    assert importlib.import_module("zipped_mod_a").VALUE == "a"
    assert type(sys.path_importer_cache[str(archive_on_path)]) is zipimport.zipimporter
    keep_archive_directories()
    finder = sys.path_importer_cache[str(archive_on_path)]
    assert isinstance(finder, ArchiveImporter)
    assert sys.path_hooks.count(zipimport.zipimporter) == 0 and ArchiveImporter in sys.path_hooks

    # A module added to the archive afterwards stays invisible through invalidate_caches (what PySpark's
    # worker calls per task): the directory read at start is kept. A plain zipimporter would re-read it.
    with zipfile.ZipFile(archive_on_path, "a") as z:
        z.writestr("zipped_mod_b.py", "VALUE = 'b'\n")
    importlib.invalidate_caches()
    assert finder.find_spec("zipped_mod_b") is None
    plain = zipimport.zipimporter(str(archive_on_path))
    plain.invalidate_caches()
    assert plain.find_spec("zipped_mod_b") is not None
    # Modules already listed still import through the kept importer.
    sys.modules.pop("zipped_mod_a")
    assert importlib.import_module("zipped_mod_a").VALUE == "a"


def test_spark_python_workers_run_under_the_daemon(spark) -> None:
    """The session's workers use this daemon: every zip importer in a worker is an ArchiveImporter."""

    def importers(_: Iterator[object]) -> Iterator[tuple[str, str]]:
        import sys as worker_sys
        import zipimport as worker_zipimport

        for path, finder in worker_sys.path_importer_cache.items():
            if isinstance(finder, worker_zipimport.zipimporter):
                yield path, type(finder).__name__

    found = spark.sparkContext.parallelize(range(4), 2).mapPartitions(importers).collect()
    assert found, "PySpark's archives (pyspark.zip, the py4j zip) are on every worker's path"
    assert {name for _, name in found} == {"ArchiveImporter"}, found
