"""The SAM application verified offline with the real tools: cfn-lint (+ custom rules), sam validate --lint,
checkov, and sam build without Docker.

The tools live in their own venvs because their pins conflict with ours and with each other
(requirements-iac.txt → .venv-iac, requirements-checkov.txt → .venv-checkov). The tests skip, saying so,
only when a venv is missing; CI creates both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.iac]

ROOT = Path(__file__).resolve().parents[2]
IAC = ROOT / ".venv-iac" / "bin"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CUSTOM_RULES = ROOT / ".cfn-lint" / "custom_rules.txt"


def _tool(path: Path) -> str:
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} missing: create it with docs/deploy.md 'Tooling' (CI does)")
    return str(path)


def _env() -> dict[str, str]:
    # Offline and credential-free: a region is all the tools need; no telemetry.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0", BC_SKIP_MAPPING="TRUE")
    return env


def _run(*cmd: str, timeout: int = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_cfn_lint_with_custom_rules_reports_nothing() -> None:
    out = _run(_tool(IAC / "cfn-lint"), "--custom-rules", str(CUSTOM_RULES), "--", "template.yaml")
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_custom_rules_catch_what_cfn_lint_misses(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    bad = text.replace("Name: gluestreaming", "Name: gluestreamin", 1).replace(
        "    Runtime: python3.11", "    Runtime: python3.12", 1
    )
    (tmp_path / "bad.yaml").write_text(bad)
    # Outside the repository, so .cfnlintrc (which adds the custom rules) is not read: cfn-lint alone.
    plain = _run(_tool(IAC / "cfn-lint"), "--", str(tmp_path / "bad.yaml"), cwd=tmp_path)
    assert "E900" not in plain.stdout and "must be" not in plain.stdout, plain.stdout
    out = _run(_tool(IAC / "cfn-lint"), "--custom-rules", str(CUSTOM_RULES), "--", str(tmp_path / "bad.yaml"))
    assert "Glue job Command.Name must be" in out.stdout, out.stdout
    assert "Serverless function Runtime must be python3.11" in out.stdout, out.stdout


def test_sam_validate_lint() -> None:
    out = _run(_tool(IAC / "sam"), "validate", "--lint", "-t", "template.yaml")
    assert out.returncode == 0 and "is a valid SAM Template" in out.stdout + out.stderr, (
        out.stdout + out.stderr
    )
    assert "W" not in "".join(line[:1] for line in out.stdout.splitlines())  # no warnings


def test_checkov_has_no_failed_check_and_every_skip_is_reasoned() -> None:
    out = _run(
        _tool(CHECKOV),
        "-f",
        "template.yaml",
        "--framework",
        "cloudformation",
        "--compact",
        "--skip-download",
        "-o",
        "json",
        timeout=900,
    )
    report = json.loads(out.stdout)
    failed = report["results"].get("failed_checks", [])
    assert report["summary"]["failed"] == 0, [(f["check_id"], f["resource"]) for f in failed]
    assert report["summary"]["parsing_errors"] == 0
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped["check_id"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `sam build` (no Docker) shared by the tests that inspect its output."""
    if shutil.which("python3.11") is None:
        pytest.skip("sam build needs python3.11 (the functions' runtime) on PATH")
    build = tmp_path_factory.mktemp("sam") / "build"
    out = _run(
        _tool(IAC / "sam"),
        "build",
        "-t",
        "template.yaml",
        "--build-dir",
        str(build),
        "--cache-dir",
        str(ROOT / ".aws-sam" / "cache"),
        "--cached",
        timeout=1200,
    )
    assert out.returncode == 0 and "Build Succeeded" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    return build


def test_sam_build_without_docker(built: Path, tmp_path: Path) -> None:
    build = built
    layer = build / "SmartcityLayer" / "python" / "smartcity"
    assert (layer / "orchestrate" / "crawls.py").is_file() and not list(layer.rglob("__pycache__"))
    # The built handlers import with only what the build put beside them plus what the Lambda runtime
    # provides (boto3 and its dependencies): no site-packages (-S), so a missing pin fails here.
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    import importlib.util

    for mod in ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"]:
        spec = importlib.util.find_spec(mod)
        assert spec and spec.origin
        src = Path(spec.origin)
        src = src.parent if src.name == "__init__.py" else src
        (runtime / src.name).symlink_to(src)
    for fn in [
        "NewLakeFilesFunction",
        "GlueStateFunction",
        "FailureAlertFunction",
        "GlueLibraryFunction",
        "MskTopicsFunction",
        "MskBootstrapFunction",
        "StreamingRolloutFunction",
    ]:
        code = build / fn
        probe = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                "import sys; sys.path[:0] = sys.argv[1:4]; import app",
                str(code),
                str(build / "SmartcityLayer" / "python"),
                str(runtime),
            ],
            capture_output=True,
            text=True,
            cwd=code,
            env={**_env(), "POWERTOOLS_METRICS_NAMESPACE": "t"},
            check=False,
        )
        assert probe.returncode == 0, f"{fn}: {probe.stderr[-2000:]}"
    built = (build / "template.yaml").read_text()
    assert (
        "glue_streaming/job.py" in built or "glue_streaming" in built
    )  # sam deploy packages the script from here


def _lock_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not line.startswith("#"):
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_built_glue_wheels_are_the_pinned_manylinux_cp311_set(built: Path) -> None:
    wheels = built / "GlueWheelsLayer" / "glue-wheels" / "wheels"
    files = sorted(p.name for p in wheels.glob("*.whl"))
    required = (wheels / "requirements.txt").read_text()
    pinned = dict(
        line.split("==") for line in required.splitlines() if line.strip() and not line.startswith("#")
    )
    # Exactly one wheel per pin, at the pinned version (= requirements.lock), nothing unpinned pulled in.
    got = {f.split("-")[0].lower().replace("_", "-"): f.split("-")[1] for f in files}
    assert got == pinned and all(_lock_pins()[n] == v for n, v in pinned.items()), files
    # Glue 5.x is CPython 3.11 on Amazon Linux 2023 x86_64: compiled wheels must be cp311 manylinux x86_64.
    for f in files:
        tags = f.removesuffix(".whl").split("-")[2:]
        assert tags[-1] == "any" or (tags[0] == "cp311" and "manylinux" in tags[2] and "x86_64" in tags[2]), f
    assert any("pydantic_core" in f and "manylinux" in f for f in files)


def test_glue_library_publishes_a_zip_of_wheels_that_installs_offline(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The custom resource, fed the built layers, publishes what Glue installs; pip installs it with
    --no-index (as Glue does with --python-modules-installer-option --no-index) and the package imports."""
    moto = pytest.importorskip("moto")
    import importlib.util

    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID

    from smartcity.orchestrate import custom_resource

    bucket = f"smartcity-dev-{DEFAULT_ACCOUNT_ID}-us-east-1"
    event = json.loads((ROOT / "events" / "glue-library-create.json").read_text())
    layer = f"arn:aws:lambda:us-east-1:{DEFAULT_ACCOUNT_ID}:layer:W:1"
    event["ResourceProperties"]["WheelsLayerVersion"] = layer
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "t")
    monkeypatch.setenv("SMARTCITY_PACKAGE_DIR", str(built / "SmartcityLayer" / "python" / "smartcity"))
    monkeypatch.setenv("GLUE_WHEELS_DIR", str(built / "GlueWheelsLayer" / "glue-wheels" / "wheels"))
    monkeypatch.setattr(custom_resource, "respond", lambda ev, body: None)  # no CloudFormation here
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        spec = importlib.util.spec_from_file_location(
            "glue_library_app", ROOT / "functions" / "glue_library" / "app.py"
        )
        assert spec and spec.loader
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)

        class Ctx:
            function_name, memory_limit_in_mb, invoked_function_arn = "f", 128, "arn:aws:lambda:x"
            aws_request_id = "r"

            def get_remaining_time_in_millis(self) -> int:
                return 300_000

        body = app.handler(event, Ctx())
        assert body["Status"] == "SUCCESS", body
        modules = body["Data"]["Modules"]
        assert modules.startswith(f"s3://{bucket}/artifacts/glue/deps-") and modules.endswith(
            ".gluewheels.zip"
        )
        data = s3.get_object(Bucket=bucket, Key=modules[len(f"s3://{bucket}/") :])["Body"].read()
    import io
    import zipfile

    zf = zipfile.ZipFile(io.BytesIO(data))
    assert "wheels/requirements.txt" in zf.namelist()
    assert all(n.startswith("wheels/") for n in zf.namelist())
    zf.extractall(tmp_path / "unzipped")
    wheels = tmp_path / "unzipped" / "wheels"
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels),
         "-r", str(wheels / "requirements.txt"), "--target", str(target), "--only-binary=:all:",
         "--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
         "--disable-pip-version-check", "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**_env(), "PIP_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    probe = subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         "import sys; sys.path[:0] = sys.argv[1:3];"
         " import pydantic_core, pydantic_settings, smartcity.config; print(pydantic_core.__version__)",
         str(target), str(built / "SmartcityLayer" / "python")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == _lock_pins()["pydantic-core"]
