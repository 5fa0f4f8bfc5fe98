"""The dashboard's configuration and its long-lived readers, built once per configuration.

The Streamlit app runs as its own process, so ``smartcity dashboard`` hands it the settings through
the environment: the usual ``SMARTCITY_*`` settings plus the dashboard's own ``SMARTCITY_DASHBOARD_*``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from smartcity.config import Settings
from smartcity.dashboard.lake_reader import LakeReader, open_lake_reader

if TYPE_CHECKING:  # the feeds import pandas and the job's snapshot module: not needed to start the app
    from smartcity.dashboard.feeds import MetricsFeed, QuarantineFeed, SnapshotFeed

REFRESH_ENV = "SMARTCITY_DASHBOARD_REFRESH_S"
POLL_ENV = "SMARTCITY_DASHBOARD_POLL_S"
BASEMAP_ENV = "SMARTCITY_DASHBOARD_BASEMAP"
WORKGROUP_ENV = "SMARTCITY_DASHBOARD_WORKGROUP"
DEFAULT_REFRESH_S = 3.0
# How often the map asks whether a new snapshot was published (a stat or an S3 HEAD; redrawn on change only).
DEFAULT_POLL_S = 0.5
BASEMAP_HOST = ("basemaps.cartocdn.com", 443)

Basemap = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class DashboardOptions:
    """``refresh_s``: the pipeline panel's redraw interval; ``poll_s``: how soon the map notices a new
    snapshot."""

    refresh_s: float
    basemap: Basemap
    workgroup: str
    poll_s: float = DEFAULT_POLL_S

    @classmethod
    def from_env(cls) -> DashboardOptions:
        basemap = os.environ.get(BASEMAP_ENV, "auto")
        return cls(
            refresh_s=float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH_S)),
            basemap=basemap if basemap in ("auto", "on", "off") else "auto",  # type: ignore[arg-type]
            workgroup=os.environ.get(WORKGROUP_ENV, ""),
            poll_s=float(os.environ.get(POLL_ENV, DEFAULT_POLL_S)),
        )

    def env(self) -> dict[str, str]:
        return {
            REFRESH_ENV: str(self.refresh_s),
            BASEMAP_ENV: self.basemap,
            WORKGROUP_ENV: self.workgroup,
            POLL_ENV: str(self.poll_s),
        }


def internet_reachable(host: tuple[str, int] = BASEMAP_HOST, timeout_s: float = 1.5) -> bool:
    """Whether the basemap's tile host answers (offline, the layers draw on a blank background)."""
    try:
        with socket.create_connection(host, timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class Readers:
    """Everything a page refresh reads from, shared by every browser session of one configuration."""

    settings: Settings
    lake: LakeReader
    snapshots: SnapshotFeed
    metrics: MetricsFeed
    quarantine: QuarantineFeed
    glue: Any
    basemap: bool


def build_readers(settings: Settings, options: DashboardOptions) -> Readers:
    import boto3

    from smartcity.dashboard.feeds import MetricsFeed, QuarantineFeed, SnapshotFeed

    s3 = boto3.client("s3", **_data_kwargs(settings)) if settings.lake_uri.startswith("s3") else None
    lake = open_lake_reader(settings.lake_uri, s3)
    from botocore.config import Config

    # A page refresh must not hang on an unreachable API: one attempt, short timeouts.
    quick = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1})
    glue = boto3.client("glue", config=quick, **settings.boto3_kwargs())
    basemap = options.basemap == "on" or (options.basemap == "auto" and internet_reachable())
    return Readers(settings, lake, SnapshotFeed(lake), MetricsFeed(lake), QuarantineFeed(lake), glue, basemap)


def _data_kwargs(settings: Settings) -> dict[str, Any]:
    """S3 client arguments: the real S3 for an s3:// lake (only the region from the settings)."""
    return {"region_name": settings.aws_region}
