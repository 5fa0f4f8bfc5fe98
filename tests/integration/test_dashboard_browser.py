"""The dashboard in a real browser (headless Chromium) on the real local stack while the simulator runs.

The stream job and the simulator run as ``smartcity stream`` / ``smartcity simulate`` subprocesses, the
dashboard as ``smartcity dashboard`` would start it. The test waits for the map, saves a screenshot in
its output directory (and to ``SMARTCITY_DASHBOARD_SCREENSHOT`` when set), checks the map has one marker
per vehicle of the snapshot it shows, that events/s is non-zero while the simulator runs, that no error
box appears, and measures freshness (how long after a step's metrics file, the job's output, the map
shows that step): printed and saved as ``freshness.json``, not asserted (a wall-time figure on a shared
machine; docs/dashboard.md holds the measured values).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartcity.commands.dashboard import start
from smartcity.dashboard.context import DashboardOptions
from smartcity.demo.reset import reset_topics

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TRIGGER_S = 2.0
REFRESH_S = 2.0
# Steps on a loaded 2-core machine can take far longer than the trigger: watch several of them.
FRESHNESS_WINDOW_S = 900
# New steps whose freshness is measured: two give the figure a range, each more costs a step's time.
FRESHNESS_STEPS = 2


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def _env(settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SMARTCITY_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "SMARTCITY_LAKE_URI": settings.lake_uri,
            "SMARTCITY_CHECKPOINT_URI": settings.checkpoint_uri,
            "SMARTCITY_LOCAL__HOME": str(settings.local.home),
        }
    )
    return env


def _spawn(settings, *args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "smartcity.cli", *args],
        env=_env(settings),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # WebGL (the map) in software: headless Chromium has no GPU here.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1600,1300",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _wait(predicate, timeout_s: float, what: str, poll_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _tab(driver, label: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f'//*[@role="tab"][contains(normalize-space(.), "{label}")]')


def _attr(driver, element_id: str, attr: str) -> str | None:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.ID, element_id)
    return found[0].get_attribute(attr) if found else None


@pytest.mark.timeout(1800)
@pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(), reason="make setup installs Chromium")
def test_dashboard_in_a_browser_while_the_city_streams(stack, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    settings = stack.settings
    for uri in (settings.lake_uri, settings.checkpoint_uri):
        shutil.rmtree(_path(uri), ignore_errors=True)
    reset_topics(settings)
    lake = _path(settings.lake_uri)
    metrics_dir = lake / "_metrics" / "stream"
    snapshot_file = lake / "_live" / "snapshot.json"

    dashboard, url = start(
        settings,
        DashboardOptions(REFRESH_S, "off", ""),
        0,
        stdout=(tmp_path / "dashboard.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    job = _spawn(settings, "stream", "--trigger", f"{TRIGGER_S:g}s", log=tmp_path / "stream.log")
    simulator = _spawn(
        settings, "simulate", "--vehicles", "60", "--duration", "3600", log=tmp_path / "simulate.log"
    )
    driver = None
    try:
        driver = _browser()
        _wait(lambda: _get(driver, url), 60, "the dashboard to answer")
        # First the waiting state (no snapshot yet), or the map if the stream was already quicker.
        _wait(lambda: snapshot_file.exists(), 1200, "the first live snapshot")
        _wait(
            lambda: (_attr(driver, "vehicle-markers", "data-count") or "0") != "0", 120, "vehicles on the map"
        )
        _wait(
            lambda: driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDeckGlJsonChart"] canvas'),
            60,
            "the map's canvas",
        )

        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        if target := os.environ.get("SMARTCITY_DASHBOARD_SCREENSHOT"):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "dashboard.png", target)

        # Freshness: when each new step appears on the map vs when the job wrote that step's metrics.
        delays: list[float] = []
        shown = _attr(driver, "vehicle-markers", "data-step")
        matched = 0
        deadline = time.monotonic() + FRESHNESS_WINDOW_S
        while time.monotonic() < deadline and len(delays) < FRESHNESS_STEPS:
            step = _attr(driver, "vehicle-markers", "data-step")
            if step and step != shown:
                seen_at = time.time()
                written = (metrics_dir / f"step-{step}.json").stat().st_mtime
                delays.append(seen_at - written)
                shown = step
            try:
                snap = json.loads(snapshot_file.read_text())
            except (FileNotFoundError, ValueError):  # being replaced this instant
                time.sleep(0.1)
                continue
            if step == snap["step"]:
                count = int(_attr(driver, "vehicle-markers", "data-count") or -1)
                assert count == len(set(snap["vehicles"]["device_id"])), (count, step)
                matched += 1
            time.sleep(0.25)
        assert matched > 0, "never compared the map with the snapshot it showed"
        assert snap["cost"]["spark_jobs"] == 1, snap["cost"]  # the snapshot costs the step one Spark job
        assert len(delays) >= FRESHNESS_STEPS, delays
        (tmp_path / "freshness.json").write_text(json.dumps({"delays_s": delays}))
        print(f"freshness: map shows a step {min(delays):.2f}-{max(delays):.2f} s after its metrics file")
        _tab(driver, "Pipeline").click()
        rate = _wait(
            lambda: float(_attr(driver, "events-per-second", "data-value") or 0), 120, "events/s above zero"
        )
        assert rate > 0
        driver.save_screenshot(str(tmp_path / "pipeline.png"))
        assert simulator.poll() is None, "the simulator stopped before the checks"
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')

    finally:
        if driver is not None:
            driver.quit()
        for proc in (simulator, job, dashboard):
            _stop(proc)


def _get(driver, url: str) -> bool:
    try:
        driver.get(url)
    except Exception:
        return False
    return "Smart City" in driver.title or bool(driver.page_source)
