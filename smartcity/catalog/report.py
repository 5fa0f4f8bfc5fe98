"""What a crawl did, per table: the crawler's run summary, printable and machine-readable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TableStatus = Literal["created", "updated", "unchanged", "vanished", "empty", "error"]


@dataclass
class TableReport:
    """One table's outcome. ``vanished``: catalogued but no data files left (reported, never deleted)."""

    table: str
    location: str
    status: TableStatus = "unchanged"
    columns_added: list[str] = field(default_factory=list)
    partitions_added: int = 0
    partitions_updated: int = 0
    partitions_missing: list[str] = field(default_factory=list)
    partitions: int = 0
    files: int = 0
    records: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return int(self.status in ("created", "updated")) + self.partitions_added + self.partitions_updated

    def line(self) -> str:
        parts = [f"{self.table:<18} {self.status:<9}"]
        if self.status == "vanished":
            parts.append(f"no data files under {self.location} (table kept, as DeleteBehavior LOG does)")
        elif self.status == "empty":
            parts.append(f"no data yet under {self.location}")
        else:
            parts.append(f"{self.records:,} rows in {self.files} files, {self.partitions} partitions")
            if self.columns_added:
                parts.append(f"+{len(self.columns_added)} columns ({', '.join(self.columns_added)})")
            if self.partitions_added:
                parts.append(f"+{self.partitions_added} partitions")
            if self.partitions_updated:
                parts.append(f"~{self.partitions_updated} partitions re-inherited the table schema")
        if self.partitions_missing:
            parts.append(f"{len(self.partitions_missing)} registered partitions have no files")
        return "  ".join(parts)


@dataclass
class CrawlReport:
    """The whole run. ``changes == 0`` is the idempotency promise of a re-run over an unchanged lake."""

    database: str
    lake_uri: str
    database_created: bool = False
    tables: list[TableReport] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return int(self.database_created) + sum(t.changes for t in self.tables)

    def table(self, name: str) -> TableReport:
        return next(t for t in self.tables if t.table == name)

    def render(self) -> str:
        lines = [f"crawl of {self.lake_uri} into database {self.database}"]
        if self.database_created:
            lines.append(f"  database {self.database} created")
        for t in self.tables:
            lines.append("  " + t.line())
            lines.extend(f"    warning: {w}" for w in t.warnings)
        lines.append(f"{self.changes} changes")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changes": self.changes}
