"""moto's server: the AWS control-plane APIs the code calls (Glue Data Catalog, S3, Athena, SNS, ...).

One HTTP endpoint serves every service; clients reach it through ``Settings.boto3_kwargs()``.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from smartcity.config import Settings
from smartcity.local.component import Component
from smartcity.local.process import ProcessRecord, spawn, wait_until


class MotoServer(Component):
    name = "moto"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.port = settings.local.moto_port

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def launch(self) -> ProcessRecord:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        # State lives in memory: the catalog is rebuilt by `smartcity crawl` from the lake, the source
        # of truth, so nothing of value is lost when the stack stops.
        env = {"MOTO_ALLOW_NONEXISTENT_REGION": "false", "PYTHONUNBUFFERED": "1"}
        return spawn(self.name, cmd, log=self.log_path, port=self.port, env=env)

    def wait_ready(self, record: ProcessRecord) -> None:
        wait_until(
            self.healthy,
            timeout=self.settings.local.start_timeout_s,
            what="moto server",
            record=record,
            log=self.log_path,
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/data.json", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False
