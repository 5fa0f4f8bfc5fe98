"""PySpark's Python worker daemon, without re-reading zip archives at the start of every task.

Spark starts its Python workers from this module locally (``spark.python.daemon.module``, set by
``smartcity.spark.local_session``); it runs PySpark's own daemon after one change to the import system.

Why: PySpark's worker calls ``importlib.invalidate_caches()`` at the start of every task, and on Python
3.11 a ``zipimporter``'s ``invalidate_caches`` re-reads its archive's whole directory, eagerly. Spark puts
three archives on the workers' path (``pyspark.zip``, py4j's zip and the ``spark-core`` jar, thousands of
entries), so every Python task re-read them (docs/decisions/0004 has the measurements).

Those archives are the installed PySpark's and do not change while a worker lives, so their importers keep
the directory they read first. Directories on the path (where ``SparkContext.addPyFile`` copies files)
keep Python's normal invalidation. On AWS Glue the job's workers are Glue's and this module is not used.
"""

from __future__ import annotations

import sys
import zipimport


class ArchiveImporter(zipimport.zipimporter):
    """A zipimporter whose archive is known not to change: invalidating its cache is a no-op."""

    def invalidate_caches(self) -> None:
        """Keep the directory read when the importer was created (see the module docstring)."""


def keep_archive_directories() -> None:
    """Make existing and future zip importers :class:`ArchiveImporter` (idempotent)."""
    hooks = sys.path_hooks
    hooks[:] = [ArchiveImporter if hook is zipimport.zipimporter else hook for hook in hooks]
    for path, finder in list(sys.path_importer_cache.items()):
        if type(finder) is zipimport.zipimporter:
            # Built from Python's directory cache of the archive: no second read.
            sys.path_importer_cache[path] = ArchiveImporter(path)


def main() -> None:
    keep_archive_directories()
    from pyspark.daemon import manager  # the forked workers inherit the import system set up above

    manager()


if __name__ == "__main__":
    main()
