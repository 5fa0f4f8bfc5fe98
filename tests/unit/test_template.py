"""template.yaml stays consistent with the code it deploys (pure Python: no AWS, no SAM CLI).

Checks: every handler and Glue script path exists; every environment variable a function requires is set
on it; every AWS API the code behind a function calls is allowed by that function's policies; Glue job
arguments match what the scripts read; crawler names, table prefixes and exclusions match the catalog
package; every saved query is a NamedQuery with the identical SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartcity.catalog import tables as catalog_tables
from smartcity.catalog.exclusions import CRAWLER_EXCLUSIONS
from smartcity.config import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ORCH = ROOT / "smartcity" / "orchestrate"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short-form tags into their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::Serverless::Function")


# -- paths ---------------------------------------------------------------------------------------------


def test_every_function_handler_exists(template: dict[str, Any]) -> None:
    for name, fn in functions(template).items():
        props = fn["Properties"]
        module, _, attr = props["Handler"].rpartition(".")
        path = ROOT / props["CodeUri"] / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"{name}: {path} missing"
        tree = ast.parse(path.read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == attr for n in tree.body), (
            f"{name}: no {attr}()"
        )


def test_layer_content_is_the_package_and_has_its_makefile(template: dict[str, Any]) -> None:
    layer = template["Resources"]["SmartcityLayer"]
    assert (ROOT / layer["Properties"]["ContentUri"] / "__init__.py").is_file()
    makefile = ROOT / layer["Metadata"]["ContextPath"] / "Makefile"
    assert "build-SmartcityLayer:" in makefile.read_text()
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "SmartcityLayer"}]


def _glue_jobs(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::Glue::Job")


def _script(job: dict[str, Any]) -> Path:
    return ROOT / job["Properties"]["Command"]["ScriptLocation"]


@pytest.mark.parametrize("job_id", ["StreamingJob", "LoadJob"])
def test_glue_job_script_exists_and_reads_exactly_the_arguments_passed(
    template: dict[str, Any], job_id: str
) -> None:
    job = template["Resources"][job_id]
    script = _script(job)
    if not script.is_file():
        pytest.skip(f"{script.relative_to(ROOT)} is not written yet (its issue's helper owns it)")
    text = script.read_text()
    passed = {k[2:] for k in job["Properties"]["DefaultArguments"]}
    tree = ast.parse(text)
    # Module-level constant lists (e.g. REQUIRED = [...]) that a getResolvedOptions call may name.
    constants = {
        t.id: [e.value for e in n.value.elts if isinstance(e, ast.Constant)]
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.List | ast.Tuple)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    required: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == (
            "getResolvedOptions"
        ):
            for arg in node.args[1:]:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.List | ast.Tuple):
                        required |= {e.value for e in sub.elts if isinstance(e, ast.Constant)}
                    elif isinstance(sub, ast.Name) and sub.id in constants:
                        required |= set(constants[sub.id])
    missing = required - passed - {"JOB_NAME"}  # Glue always passes JOB_NAME
    assert not missing, f"{job_id}: the script requires {sorted(missing)} but the template does not pass them"
    ours = {a for a in passed if re.fullmatch(r"[a-z][a-z0-9_]*", a)}  # Glue's own flags use '-' or capitals
    unread = {a for a in ours if a not in text}
    assert not unread, f"{job_id}: the template passes {sorted(unread)} but {script.name} never reads them"


def test_glue_jobs_are_glue_5_1_with_the_package_and_one_run_at_a_time(template: dict[str, Any]) -> None:
    jobs = _glue_jobs(template)
    assert {j["Properties"]["Command"]["Name"] for j in jobs.values()} == {"gluestreaming", "glueetl"}
    for job in jobs.values():
        p = job["Properties"]
        assert p["GlueVersion"] == "5.1" and p["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
        assert p["DefaultArguments"]["--extra-py-files"] == {"Fn::GetAtt": ["GlueLibrary", "Uri"]}
    assert jobs["LoadJob"]["Properties"]["DefaultArguments"]["--job-bookmark-option"] == "job-bookmark-enable"
    assert jobs["StreamingJob"]["Properties"]["DefaultArguments"]["--enable-auto-scaling"] == "true"


# -- Glue dependencies travel with the deployment (no PyPI from the private subnets) ---------------------

GLUE_WHEELS = ROOT / "functions" / "glue_wheels"


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_glue_jobs_install_the_published_zip_of_wheels_without_an_index(template: dict[str, Any]) -> None:
    for name, job in _glue_jobs(template).items():
        args = job["Properties"]["DefaultArguments"]
        assert args["--additional-python-modules"] == {"Fn::GetAtt": ["GlueLibrary", "Modules"]}, name
        assert args["--python-modules-installer-option"] == "--no-index", name
    glue_library = template["Resources"]["GlueLibrary"]["Properties"]
    assert glue_library["WheelsLayerVersion"] == {"Ref": "GlueWheelsLayer"}
    layer = template["Resources"]["GlueWheelsLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert (ROOT / layer["Properties"]["ContentUri"]).resolve() == GLUE_WHEELS.resolve()
    makefile = (GLUE_WHEELS / "Makefile").read_text()
    assert "build-GlueWheelsLayer:" in makefile
    for flag in ("--only-binary=:all:", "--platform manylinux2014_x86_64", "--python-version 3.11",
                 "--implementation cp", "-r requirements.txt"):  # fmt: skip
        assert flag in makefile, flag
    # Only the publishing function carries the wheels (Globals adds SmartcityLayer to every function).
    assert template["Resources"]["GlueLibraryFunction"]["Properties"]["Layers"] == [
        {"Ref": "GlueWheelsLayer"}
    ]
    app = (ROOT / "functions" / "glue_library" / "app.py").read_text()
    assert "/opt/glue-wheels/wheels" in app and ".gluewheels.zip" in app


def test_glue_wheel_pins_equal_the_lock_and_close_over_their_dependencies() -> None:
    from importlib import metadata

    from packaging.requirements import Requirement

    pins = _pins(GLUE_WHEELS / "requirements.txt")
    lock = _pins(ROOT / "requirements.lock")
    assert {"pydantic", "pydantic-settings", "pydantic-core"} <= set(pins)
    assert {n: lock.get(n) for n in pins} == pins, (
        "functions/glue_wheels/requirements.txt must match the lock"
    )
    env = {"python_version": "3.11", "sys_platform": "linux", "platform_machine": "x86_64", "extra": ""}
    for name in pins:
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate(env):
                dep = req.name.lower().replace("_", "-")
                assert dep in pins, f"{name} needs {dep}: pin it, or Glue's --no-index install fails"
                assert req.specifier.contains(pins[dep], prereleases=True), f"{name} needs {req}"


# -- networking: a new VPC reaches every AWS API the jobs call without NAT ------------------------------

# Interface endpoints the private subnets need (S3 is a gateway endpoint): Glue (job runs, bookmarks,
# catalog), CloudWatch metrics (`cloudwatch` client, --enable-metrics), Logs, Secrets Manager (the Redshift
# connection's SECRET_ID), STS (MSK IAM auth). No MSK control-plane endpoint: AWS no longer accepts new
# connections to com.amazonaws.<region>.kafka, so the bootstrap brokers are resolved outside the VPC.
# Redshift is reached over JDBC inside the VPC (workgroup in the same subnets); KMS is called by S3 and
# Secrets Manager on the caller's behalf, never by the jobs.
ENDPOINT_OF_CLIENT = {"cloudwatch": "monitoring", "logs": "logs", "glue": "glue", "sts": "sts",
                      "secretsmanager": "secretsmanager", "s3": "s3"}  # fmt: skip


def test_new_vpc_has_an_endpoint_for_every_aws_api_the_jobs_call_and_no_internet_route(
    template: dict[str, Any],
) -> None:
    endpoints = resources(template, "AWS::EC2::VPCEndpoint")
    services: dict[str, dict[str, Any]] = {}
    for ep in endpoints.values():
        assert ep["Condition"] == "CreateVpc"
        name = ep["Properties"]["ServiceName"]["Fn::Sub"].removeprefix("com.amazonaws.${AWS::Region}.")
        services[name] = ep["Properties"]
    assert services["s3"]["VpcEndpointType"] == "Gateway"
    assert services["s3"]["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    for name, props in services.items():
        if name != "s3":
            assert props["VpcEndpointType"] == "Interface" and props["PrivateDnsEnabled"] is True, name
    clients: set[str] = set()
    for path in [ROOT / "glue_streaming" / "job.py", ROOT / "glue_etl" / "job.py",
                 *sorted((ROOT / "smartcity" / "stream").glob("*.py")),
                 *sorted((ROOT / "smartcity" / "warehouse").glob("*.py"))]:  # fmt: skip
        clients |= set(re.findall(r"""boto3\.client\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    clients.discard("redshift-data")  # the migrate command runs on the deployer's machine, not in the VPC
    needed = {ENDPOINT_OF_CLIENT[c] for c in clients} | {"s3", "glue", "logs", "monitoring", "secretsmanager",
                                                         "sts"}  # fmt: skip
    assert needed <= set(services), f"no VPC endpoint for {sorted(needed - set(services))}"
    assert not {"kafka", "kafka-fips"} & set(services), "the MSK PrivateLink endpoint takes no new connections"
    forbidden = {"AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"}
    assert not [k for k, v in template["Resources"].items() if v["Type"] in forbidden]


# -- environment variables ---------------------------------------------------------------------------------


def _env_reads(paths: list[Path]) -> tuple[set[str], set[str]]:
    """(required, optional) environment variable names read in ``paths``.

    Required: ``_req(env, "X")`` and ``os.environ["X"]``; optional: ``env.get("X")``/``os.environ.get``.
    """
    required: set[str] = set()
    optional: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                consts = [
                    a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                ]
                if name == "_req" and consts:
                    required.add(consts[0])
                elif name == "get" and consts and re.fullmatch(r"[A-Z][A-Z0-9_]+", consts[0]):
                    owner = node.func.value if isinstance(node.func, ast.Attribute) else None
                    if isinstance(owner, ast.Name | ast.Attribute) and ast.unparse(owner) in (
                        "env",
                        "os.environ",
                    ):
                        optional.add(consts[0])
            elif (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) == "os.environ"
                and isinstance(node.slice, ast.Constant)
            ):
                required.add(node.slice.value)
    return required, optional - required


def _config_classes_used(app: Path) -> set[str]:
    tree = ast.parse(app.read_text())
    return {
        a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "smartcity.orchestrate.config"
        for a in n.names
    }


def _class_env_reads(cls_name: str) -> tuple[set[str], set[str]]:
    tree = ast.parse((ORCH / "config.py").read_text())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name]
    required: set[str] = set()
    optional: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            consts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name == "_req" and consts:
                required.add(consts[0])
            elif name == "get" and consts and ast.unparse(node.func.value) == "env":  # type: ignore[attr-defined]
                optional.add(consts[0])
    return required, optional


ORCHESTRATION_FUNCTIONS = {
    "NewLakeFilesFunction": "new_lake_files",
    "GlueStateFunction": "glue_state",
    "FailureAlertFunction": "failure_alert",
}


@pytest.mark.parametrize("fn_id", sorted(ORCHESTRATION_FUNCTIONS))
def test_every_environment_variable_a_function_reads_is_set_on_it(
    template: dict[str, Any], fn_id: str
) -> None:
    app = ROOT / "functions" / ORCHESTRATION_FUNCTIONS[fn_id] / "app.py"
    env = template["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
    env = {**template["Globals"]["Function"]["Environment"]["Variables"], **env}
    required, optional = _env_reads([app])
    for cls in _config_classes_used(app):
        r, o = _class_env_reads(cls)
        required |= r
        optional |= o
    assert required, "the parser found no required variable: it is broken"
    assert not required - set(env), (
        f"{fn_id} reads {sorted(required - set(env))} but the template does not set them"
    )
    from smartcity.orchestrate.config import ENV_VARS

    assert (required | optional) <= set(ENV_VARS), (
        "document every variable in smartcity.orchestrate.config.ENV_VARS"
    )
    assert env["POWERTOOLS_SERVICE_NAME"] and env["POWERTOOLS_METRICS_NAMESPACE"]


def test_simulator_function_gets_what_its_settings_require(template: dict[str, Any]) -> None:
    env = template["Resources"]["SimulatorFunction"]["Properties"]["Environment"]["Variables"]
    required, _ = _env_reads([ROOT / "simulator" / "app.py"])
    # Settings(profile="aws") requires the lake and checkpoint URIs; the burst requires its state bucket.
    for name in {
        "SIMULATOR_STATE_BUCKET",
        "SMARTCITY_PROFILE",
        "SMARTCITY_LAKE_URI",
        "SMARTCITY_CHECKPOINT_URI",
        "SMARTCITY_KAFKA__BOOTSTRAP_SERVERS",
    } | required:
        assert name in env, name
    assert env["SMARTCITY_PROFILE"] == "aws" and env["SMARTCITY_KAFKA__AUTH"] == "msk_iam"


# -- IAM: every API call allowed -------------------------------------------------------------------------

SERVICE_OF_RECEIVER = {
    "glue": "glue",
    "_glue": "glue",
    "dynamodb": "dynamodb",
    "_ddb": "dynamodb",
    "ddb": "dynamodb",
    "sns": "sns",
    "s3": "s3",
    "kafka": "kafka",
    "self.client": "s3",
}
# APIs whose permission is the item-level actions they perform.
COMPOSITE = {"dynamodb:TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem"}}


def _modules_of(app: Path) -> list[Path]:
    """The handler and every smartcity.orchestrate module it reaches through imports."""
    seen: list[Path] = []
    todo = [app]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("smartcity.orchestrate"):
                target = ROOT / (node.module or "").replace(".", "/")
                todo.append(
                    target.with_suffix(".py")
                    if target.with_suffix(".py").exists()
                    else target / "__init__.py"
                )
    return seen


def _api_calls(paths: list[Path]) -> set[str]:
    calls: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = ast.unparse(node.func.value).removeprefix("self.")
                receiver = {"client": "self.client"}.get(receiver, receiver)
                service = SERVICE_OF_RECEIVER.get(receiver)
                if service:
                    action = "".join(p.capitalize() for p in node.func.attr.split("_"))
                    calls.add(f"{service}:{action}")
    return calls


def _allowed(fn: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for policy in fn["Properties"].get("Policies", []):
        for st in policy.get("Statement", []):
            if st.get("Effect") == "Allow":
                acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                actions |= set(acts)
    return actions


@pytest.mark.parametrize(
    "fn_id,folder",
    [
        *ORCHESTRATION_FUNCTIONS.items(),
        ("GlueLibraryFunction", "glue_library"),
        ("MskBootstrapFunction", "msk_bootstrap"),
        ("StreamingRolloutFunction", "streaming_rollout"),
    ],
)
def test_every_aws_api_the_code_calls_is_allowed_by_its_role(
    template: dict[str, Any], fn_id: str, folder: str
) -> None:
    app = ROOT / "functions" / folder / "app.py"
    calls = _api_calls(_modules_of(app))
    assert calls, f"found no AWS API call behind {fn_id}: the parser is broken"
    needed: set[str] = set()
    for call in calls:
        needed |= COMPOSITE.get(call, {call})
    allowed = _allowed(template["Resources"][fn_id])
    assert not needed - allowed, f"{fn_id} calls {sorted(needed - allowed)} which its policies do not allow"


def test_simulator_role_allows_its_state_store(template: dict[str, Any]) -> None:
    calls = (
        _api_calls([ROOT / "smartcity" / "simulate" / "burst.py"])
        if (ROOT / "smartcity" / "simulate" / "burst.py").exists()
        else {"s3:GetObject", "s3:PutObject"}
    )
    allowed = _allowed(template["Resources"]["SimulatorFunction"])
    assert {"s3:GetObject", "s3:PutObject"} <= calls and calls <= allowed
    assert {"kafka-cluster:Connect", "kafka-cluster:WriteData"} <= allowed


# -- catalog ---------------------------------------------------------------------------------------------


def test_one_crawler_per_lake_table_named_and_prefixed_as_the_catalog_expects(
    template: dict[str, Any],
) -> None:
    crawlers = resources(template, "AWS::Glue::Crawler")
    settings = Settings(profile="local", crawler_prefix="STACK-")
    by_name = {
        c["Properties"]["Name"]["Fn::Sub"].replace("${AWS::StackName}-", "STACK-"): c
        for c in crawlers.values()
    }
    assert len(by_name) == len(catalog_tables.LAKE_TABLES)
    for table in catalog_tables.LAKE_TABLES:
        crawler = by_name[table.crawler_name(settings)]["Properties"]
        assert crawler.get("TablePrefix", "") == table.table_prefix
        [target] = crawler["Targets"]["S3Targets"]
        assert target["Path"]["Fn::Sub"].endswith(f"${{LakePrefix}}{table.path}/")
        assert tuple(target["Exclusions"]) == CRAWLER_EXCLUSIONS
        assert crawler["SchemaChangePolicy"]["UpdateBehavior"] == "UPDATE_IN_DATABASE"
        assert crawler["RecrawlPolicy"]["RecrawlBehavior"] == "CRAWL_EVENT_MODE"


def test_named_queries_equal_the_saved_query_files(template: dict[str, Any]) -> None:
    saved = {p.stem: p.read_text() for p in sorted((ROOT / "smartcity" / "query" / "saved").glob("*.sql"))}
    named = {
        q["Properties"]["Name"]: q["Properties"]["QueryString"]
        for q in resources(template, "AWS::Athena::NamedQuery").values()
    }
    if not saved:
        pytest.skip("no saved query files yet (smartcity/query/saved/*.sql, issue 5)")
    assert set(named) == set(saved), "every saved query must be an AWS::Athena::NamedQuery of the same name"
    for name, sql in saved.items():
        assert named[name].strip() == sql.strip(), f"NamedQuery {name} differs from {name}.sql"


def test_every_checkov_suppression_gives_a_reason(template: dict[str, Any]) -> None:
    for name, res in template["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]) and len(skip.get("comment", "")) > 20, name
