"""The generated blocks of ``template.yaml``: what repeats per table or file, written from its declaration.

Each block sits between a ``# >>> name`` and a ``# <<< name`` marker line; ``--write`` replaces every block
with what its generator returns now, ``--check`` exits 1 naming the stale ones (tests run the same check).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from smartcity.catalog.cfn import crawler_resources, notification_configurations
from smartcity.quality.cfn import ruleset_resources
from smartcity.query.cfn import named_query_resources

# Each generator returns its whole block, both marker lines included.
GENERATORS: tuple[Callable[[], str], ...] = (
    notification_configurations,
    crawler_resources,
    ruleset_resources,
    named_query_resources,
)


def _markers(block: str) -> tuple[str, str]:
    lines = block.splitlines()
    return lines[0], lines[-1]


def stale_blocks(template: str) -> list[str]:
    """The begin markers of the blocks whose text differs from what their generator returns."""
    return [_markers(b)[0].strip() for b in (g() for g in GENERATORS) if b not in template]


def regenerate(template: str) -> str:
    """The template with every generated block replaced by its generator's current text."""
    for generate in GENERATORS:
        block = generate()
        begin, end = _markers(block)
        if begin not in template or end not in template:
            raise ValueError(f"template has no '{begin.strip()}' ... '{end.strip()}' block")
        start, stop = template.index(begin), template.index(end) + len(end)
        template = template[:start] + block + template[stop:]
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write or check the generated blocks of template.yaml")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, metavar="TEMPLATE", help="replace the blocks in this template")
    action.add_argument("--check", type=Path, metavar="TEMPLATE", help="exit 1 if a block is stale")
    args = parser.parse_args(argv)
    path: Path = args.write or args.check
    try:
        text = path.read_text()
        if args.write:
            path.write_text(regenerate(text))
            return 0
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = stale_blocks(text)
    if stale:
        print(f"stale blocks in {path}: {', '.join(stale)} (run with --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
