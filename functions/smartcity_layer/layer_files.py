"""The files of the ``smartcity`` package that SmartcityLayer ships: what its users import, nothing else.

The layer's users are the Lambda handlers and the two Glue jobs (GlueLibrary publishes the same files for
``--extra-py-files``). Their ``smartcity`` imports, followed through the package (every ``import`` statement,
also those inside functions), give the modules; each module's package ``__init__.py`` files and the data
files (SQL, JSON, properties) of its folder come along. Standard library only: it runs inside ``sam build``.

    python3 layer_files.py PACKAGE_DIR REPO_ROOT        # prints the files, relative to PACKAGE_DIR
    python3 layer_files.py PACKAGE_DIR REPO_ROOT DEST   # copies them under DEST/smartcity
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

PACKAGE = "smartcity"
# The programs that run with the layer, relative to the repository root.
ENTRY_GLOBS = ("functions/*/app.py", "simulator/app.py", "glue_streaming/job.py", "glue_etl/job.py")
DATA_SUFFIXES = {".sql", ".json", ".toml", ".properties", ".typed"}


def imported_modules(source: Path, module: str | None) -> set[str]:
    """The dotted names a Python file imports (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(source.read_text(), filename=str(source))
    package = module.rsplit(".", 1)[0] if module and source.name != "__init__.py" else module
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = (package or "").split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_file(package_dir: Path, name: str) -> Path | None:
    """The file of ``smartcity.x.y`` under ``package_dir``, or None if ``name`` is not one of its modules."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    parts = name.split(".")[1:]
    rel = Path(*parts)
    candidates = [package_dir / rel / "__init__.py"]
    if parts:
        candidates.append(package_dir / rel.with_suffix(".py"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def layer_files(package_dir: Path, entries: list[Path]) -> list[Path]:
    """Every file the layer needs, relative to ``package_dir``, sorted."""
    todo = [name for entry in entries for name in imported_modules(entry, None)]
    modules: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        path = module_file(package_dir, name)
        if path is None or name in modules:
            continue
        modules[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # the packages it lives in
        todo.extend(imported_modules(path, name))
    files = {path.relative_to(package_dir) for path in modules.values()}
    for folder in {path.parent for path in modules.values()}:
        files.update(p.relative_to(package_dir) for p in data_files(folder))
    return sorted(files)


def data_files(folder: Path) -> list[Path]:
    """The data files of a module's folder: those in it and in its subfolders that hold no Python."""
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES]
    for sub in folder.iterdir():
        if sub.is_dir() and not any(sub.rglob("*.py")):
            found.extend(p for p in sub.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    return found


def main(argv: list[str]) -> None:
    package_dir, root = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    entries = sorted(p for pattern in ENTRY_GLOBS for p in root.glob(pattern))
    if not entries:
        sys.exit(f"layer_files: no entry point under {root} (looked for {', '.join(ENTRY_GLOBS)})")
    files = layer_files(package_dir, entries)
    if len(argv) == 2:
        print("\n".join(str(f) for f in files))
        return
    dest = Path(argv[2]) / PACKAGE
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(package_dir / rel, dest / rel)


if __name__ == "__main__":
    main(sys.argv[1:])
