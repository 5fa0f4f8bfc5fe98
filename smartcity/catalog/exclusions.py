"""Which files under a table root are data, decided by the same glob patterns the AWS crawlers use.

Spark's file sink leaves ``_spark_metadata/`` (its commit log), ``_SUCCESS`` markers, ``.crc`` checksums and
``_temporary/`` attempt folders beside the Parquet files; Glue would catalogue them as extra tables or
unreadable partitions. ``CRAWLER_EXCLUSIONS`` is the single list: the local crawler applies it and
``docs/catalog.md`` puts it verbatim into each ``AWS::Glue::Crawler`` S3 target (a unit test keeps them
equal). Patterns are Glue globs relative to the include path: ``*`` stays within a folder, ``**`` crosses
folders. Athena itself also skips files whose name starts with ``_`` or ``.``; ``is_hidden`` mirrors that
for the query side.
"""

from __future__ import annotations

import re
from functools import lru_cache

CRAWLER_EXCLUSIONS: tuple[str, ...] = (
    "_spark_metadata/**",
    "**/_spark_metadata/**",
    "**/_temporary/**",
    "_temporary/**",
    "**/.spark-staging*/**",
    "**_SUCCESS",
    "**.crc",
    "**/_*",
    "_*",
    "**/.*",
    ".*",
)


@lru_cache(maxsize=64)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            end = pattern.index("}", i)
            out.append("(?:" + "|".join(re.escape(p) for p in pattern[i + 1 : end].split(",")) + ")")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def is_excluded(relative_path: str, patterns: tuple[str, ...] = CRAWLER_EXCLUSIONS) -> bool:
    """True when a path relative to the crawler's include path matches an exclusion glob."""
    return any(_glob_regex(p).match(relative_path) for p in patterns)


def is_hidden(relative_path: str) -> bool:
    """Athena's rule: any path component starting with ``_`` or ``.`` is not data."""
    return any(part.startswith(("_", ".")) for part in relative_path.split("/"))
