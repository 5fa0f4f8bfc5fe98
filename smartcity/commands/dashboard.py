"""``smartcity dashboard``: the live city dashboard (Streamlit) against the local stack or a deployed one."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import resources
from typing import Any

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.config import Settings
from smartcity.dashboard.context import DEFAULT_REFRESH_S, DashboardOptions
from smartcity.errors import UsageError
from smartcity.local.process import free_port

APP = resources.files("smartcity.dashboard") / "app.py"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="open the live dashboard: the city map, the pipeline's figures, the saved queries",
        description="Start the Streamlit dashboard and print its URL. Profile 'aws' reads a deployed "
        "stack's lake with your AWS credentials (SMARTCITY_LAKE_URI) and runs history on Athena.",
    )
    add_stack_options(p)
    p.add_argument("--profile", choices=["local", "aws"], help="default: the configured profile")
    p.add_argument("--port", type=int, default=8501, help="HTTP port (0: any free port; default 8501)")
    p.add_argument("--refresh", type=float, default=DEFAULT_REFRESH_S, help="seconds between refreshes")
    p.add_argument(
        "--basemap", choices=["auto", "on", "off"], default="auto", help="map tiles (auto: if online)"
    )
    p.add_argument("--workgroup", default="", help="Athena workgroup for history (profile aws)")
    p.set_defaults(handler=_run)


def dashboard_command(
    settings: Settings, options: DashboardOptions, port: int
) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for these settings."""
    env = dict(os.environ)
    env.update(options.env())
    env["SMARTCITY_PROFILE"] = settings.profile
    env["SMARTCITY_LAKE_URI"] = settings.lake_uri
    env["SMARTCITY_CHECKPOINT_URI"] = settings.checkpoint_uri
    env["SMARTCITY_LOCAL__HOME"] = str(settings.local.home)
    if settings.profile == "local" and settings.aws_endpoint_url:
        env["SMARTCITY_AWS_ENDPOINT_URL"] = settings.aws_endpoint_url
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
    ]
    return cmd, env


def start(
    settings: Settings, options: DashboardOptions, port: int, **popen: Any
) -> tuple[subprocess.Popen, str]:
    """Start the dashboard process; returns it and its URL."""
    port = port or free_port()
    cmd, env = dashboard_command(settings, options, port)
    return subprocess.Popen(cmd, env=env, **popen), f"http://127.0.0.1:{port}"


def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"profile": args.profile} if args.profile else {}
    settings = settings_from(args, **overrides)
    if args.refresh <= 0:
        raise UsageError("--refresh must be positive")
    options = DashboardOptions(args.refresh, args.basemap, args.workgroup)
    proc, url = start(settings, options, args.port, stdout=subprocess.DEVNULL)
    print(f"dashboard: {url}  (lake {settings.lake_uri}; Ctrl-C to stop)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        return 0


class DashboardDuring:
    """The dashboard beside another command (``smartcity demo --dashboard``): started, its URL printed,
    stopped when that command ends."""

    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc, self.url = proc, url

    @classmethod
    def start(cls, settings: Settings, port: int = 8501) -> DashboardDuring:
        options = DashboardOptions(DEFAULT_REFRESH_S, "auto", "")
        proc, url = start(settings, options, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"dashboard: {url}  (open during the demo)", flush=True)
        return cls(proc, url)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
