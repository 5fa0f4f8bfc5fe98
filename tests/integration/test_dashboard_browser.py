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
# The job's cold start and steps on a loaded 2-core machine take far longer than the trigger.
FRESHNESS_WINDOW_S = 1200
# Steps whose freshness is measured, the first shown included: two give the figure a range and are the
# two steps events/s needs (a rate needs a previous step); each more costs a step's time.
FRESHNESS_STEPS = 2
# A city small enough that steps stay cheap, large enough that the markers are a count worth checking.
VEHICLES = 20


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
        settings, "simulate", "--vehicles", str(VEHICLES), "--duration", "3600", log=tmp_path / "simulate.log"
    )
    first_batch = _path(settings.checkpoint_uri) / "query" / "offsets" / "0"
    driver = None
    try:
        # An open page re-runs the dashboard's fragments every refresh: open it once the job has planned
        # its first micro-batch (its cold step still ahead), not during the JVM's start.
        _wait(lambda: first_batch.exists() or job.poll() is not None, 900, "the job's first micro-batch")
        assert job.poll() is None, (tmp_path / "stream.log").read_text()[-3000:]
        driver = _browser()
        _wait(lambda: _get(driver, url), 60, "the dashboard to answer")
        # The page is open (the waiting state) before the first snapshot, so each step the map shows,
        # the first too, is timed against its metrics file: freshness over the steps the checks need.
        delays, matched = _watch_steps(driver, metrics_dir, snapshot_file)
        assert matched, "never compared the map with a snapshot of vehicles it showed"
        for snap in matched.values():
            assert snap["cost"]["spark_jobs"] == 0, snap["cost"]  # its rows come with the step's one collect
        (tmp_path / "freshness.json").write_text(json.dumps({"delays_s": delays}))
        print(f"freshness: map shows a step {min(delays):.2f} to {max(delays):.2f} s after its metrics file")
        _wait(
            lambda: driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDeckGlJsonChart"] canvas'),
            60,
            "the map's canvas",
        )
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        if target := os.environ.get("SMARTCITY_DASHBOARD_SCREENSHOT"):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "dashboard.png", target)
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


def _markers(driver) -> tuple[str | None, int]:
    """The step the map shows and how many vehicle markers it has, read off one element (None, 0 while
    there is none, or when a refresh replaced it this instant)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.ID, "vehicle-markers")
    try:
        return (
            (found[0].get_attribute("data-step"), int(found[0].get_attribute("data-count") or 0))
            if found
            else (None, 0)
        )
    except StaleElementReferenceException:
        return None, 0


def _watch_steps(driver, metrics_dir: Path, snapshot_file: Path) -> tuple[list[float], dict[str, dict]]:
    """Watch the map until it has shown ``FRESHNESS_STEPS`` steps and its vehicles were compared with the
    snapshot it showed. Returns each shown step's delay after its metrics file (the job's output; negative
    when the map showed the step before the step's end wrote it), and per step the snapshots whose
    vehicles were compared (markers = distinct vehicles)."""
    seen: dict[str, float] = {}
    matched: dict[str, dict] = {}
    deadline = time.monotonic() + FRESHNESS_WINDOW_S
    while len(seen) < FRESHNESS_STEPS or not matched:
        assert time.monotonic() < deadline, f"{len(seen)} steps shown in {FRESHNESS_WINDOW_S} s"
        step, count = _markers(driver)
        if step and step not in seen:
            seen[step] = time.time()
        try:
            snap = json.loads(snapshot_file.read_text())
        except (FileNotFoundError, ValueError):  # not published yet, or being replaced this instant
            time.sleep(0.1)
            continue
        if step == snap["step"] and count > 0:
            assert count == len(set(snap["vehicles"]["device_id"])), (count, step)
            matched[step] = snap
        time.sleep(0.25)
    files = {step: metrics_dir / f"step-{step}.json" for step in seen}
    _wait(lambda: all(f.exists() for f in files.values()), FRESHNESS_WINDOW_S, "the shown steps' metrics")
    return [at - files[step].stat().st_mtime for step, at in seen.items()], matched


def _get(driver, url: str) -> bool:
    try:
        driver.get(url)
    except Exception:
        return False
    return "Smart City" in driver.title or bool(driver.page_source)
