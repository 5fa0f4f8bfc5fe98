"""`make test-fast` stays fast: a test that starts a JVM or PostgreSQL without saying so fails the run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import NEEDS_MARKERS, NEEDS_NOTHING_OPTION, HeavyProcessWatch

pytestmark = pytest.mark.unit

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
FAKE = "fake-jvm"  # a process named like no real one, so the outer run's own watch ignores it


def _fake_jvm(tmp: Path) -> Path:
    """A `sleep` that the process table shows under the name FAKE (the kernel names it after the link)."""
    link = tmp / FAKE
    link.symlink_to("/bin/sleep")
    return link


def test_the_watch_names_the_process_and_the_test_that_started_it(tmp_path: Path) -> None:
    watch = HeavyProcessWatch(names=frozenset({FAKE})).start()
    watch.current = "tests/x.py::test_y"
    subprocess.run([str(_fake_jvm(tmp_path)), "1"], check=True)
    time.sleep(0.1)
    watch.stop()
    assert [v.split(" (pid")[0] + v.split(")", 1)[1] for v in watch.seen.values()] == [
        f"{FAKE} during tests/x.py::test_y"
    ]


def test_an_unmarked_test_starting_a_jvm_fails_a_fast_run_naming_it(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    conftest, names = CONFTEST.read_text(), "HEAVY_PROCESS_NAMES = frozenset("
    assert names in conftest
    pytester.makeconftest(conftest.replace(names, f"{names}{{{FAKE!r}}}) or ("))
    pytester.makeini("[pytest]\nmarkers =\n" + "".join(f"    {m}\n" for m in NEEDS_MARKERS))
    fake = _fake_jvm(tmp_path)
    pytester.makepyfile(
        test_inner=f"""
        import subprocess
        import pytest

        def test_quiet():
            pass

        def test_starts_a_jvm():
            subprocess.run([{str(fake)!r}, "1"], check=True)

        @pytest.mark.spark
        def test_says_it_needs_spark():
            subprocess.run([{str(fake)!r}, "1"], check=True)
        """
    )
    fast = pytester.runpytest_subprocess(NEEDS_NOTHING_OPTION, "-p", "no:cacheprovider", "-p", "no:anyio")
    fast.assert_outcomes(passed=2, errors=1, deselected=1)
    fast.stdout.fnmatch_lines([f"*started a JVM or PostgreSQL: {FAKE} (pid *) during *test_starts_a_jvm"])
