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


@pytest.mark.parametrize("job_id", ["StreamingJob", "LoadJob", "CompactionJob"])
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
    assert not {"kafka", "kafka-fips"} & set(services), (
        "the MSK PrivateLink endpoint takes no new connections"
    )
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
        pytest.skip("no saved query files yet (smartcity/query/saved/*.sql)")
    assert set(named) == set(saved), "every saved query must be an AWS::Athena::NamedQuery of the same name"
    for name, sql in saved.items():
        assert named[name].strip() == sql.strip(), f"NamedQuery {name} differs from {name}.sql"


def test_every_checkov_suppression_gives_a_reason(template: dict[str, Any]) -> None:
    for name, res in template["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]) and len(skip.get("comment", "")) > 20, name


# -- custom resources: bounded, answered, and their network path outlives them ---------------------------


def _custom_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v
        for k, v in template["Resources"].items()
        if v["Type"].startswith("Custom::") or v["Type"] == "AWS::CloudFormation::CustomResource"
    }


def _function_of(template: dict[str, Any], custom: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [name, _attr] = custom["Properties"]["ServiceToken"]["Fn::GetAtt"]
    return name, template["Resources"][name]


def test_every_custom_resource_has_a_service_timeout_under_an_hour_above_its_function_timeout(
    template: dict[str, Any],
) -> None:
    customs = _custom_resources(template)
    assert {"MskBootstrap", "MskTopics", "GlueLibrary", "StreamingJobRollout"} <= set(customs)
    for name, custom in customs.items():
        timeout = custom["Properties"].get("ServiceTimeout")
        assert isinstance(timeout, int) and timeout < 3600, f"{name}: ServiceTimeout {timeout!r}"
        fn_name, fn = _function_of(template, custom)
        fn_timeout = fn["Properties"].get("Timeout", template["Globals"]["Function"]["Timeout"])
        # The function answers before its own timeout; CloudFormation must wait at least that long.
        assert fn_timeout < timeout, (
            f"{name}: {fn_name} may run {fn_timeout} s, ServiceTimeout is {timeout} s"
        )


def _references(node: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt, ${X} in Fn::Sub)."""
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                out.add(value)
            elif key == "Fn::GetAtt":
                out.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                out |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(value, list):
                    out |= _references(value[1])
            else:
                out |= _references(value)
    elif isinstance(node, list):
        for item in node:
            out |= _references(item)
    return out


def _depends_on(template: dict[str, Any], name: str) -> set[str]:
    """Every resource ``name`` depends on, directly or transitively (DependsOn and references)."""
    resources = template["Resources"]
    seen: set[str] = set()
    todo = [name]
    while todo:
        res = resources[todo.pop()]
        direct = _references(res.get("Properties", {})) | set(
            [res["DependsOn"]] if isinstance(res.get("DependsOn"), str) else res.get("DependsOn", [])
        )
        for dep in direct & set(resources) - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def test_the_vpc_path_an_in_vpc_custom_resource_answers_through_outlives_it(template: dict[str, Any]) -> None:
    """CloudFormation deletes in reverse dependency order: the S3 gateway endpoint and the subnets' route
    associations must be deleted after the custom resource, or its Delete answer never reaches S3."""
    resources = template["Resources"]
    s3_endpoints = [
        k
        for k, v in resources.items()
        if v["Type"] == "AWS::EC2::VPCEndpoint" and v["Properties"]["ServiceName"]["Fn::Sub"].endswith(".s3")
    ]
    associations = [k for k, v in resources.items() if v["Type"] == "AWS::EC2::SubnetRouteTableAssociation"]
    assert s3_endpoints and associations
    in_vpc = [
        name
        for name, custom in _custom_resources(template).items()
        if "VpcConfig" in _function_of(template, custom)[1]["Properties"]
    ]
    assert in_vpc == ["MskTopics"]
    for name in in_vpc:
        deps = _depends_on(template, name)
        missing = set(s3_endpoints + associations) - deps
        assert not missing, f"{name} may outlive {sorted(missing)} on delete and never answer"


def test_in_vpc_custom_resources_call_no_aws_api_and_brokers_come_from_outside_the_vpc(
    template: dict[str, Any],
) -> None:
    topics_fn = template["Resources"]["MskTopicsFunction"]["Properties"]
    assert "VpcConfig" in topics_fn
    calls = _api_calls(_modules_of(ROOT / "functions" / "msk_topics" / "app.py"))
    assert not calls, f"MskTopicsFunction runs in the VPC and calls {sorted(calls)}"
    assert "boto3" not in (ROOT / "functions" / "msk_topics" / "app.py").read_text()
    bootstrap_fn = template["Resources"]["MskBootstrapFunction"]["Properties"]
    assert "VpcConfig" not in bootstrap_fn
    assert template["Resources"]["MskTopics"]["Properties"]["BootstrapBrokers"] == {
        "Fn::GetAtt": ["MskBootstrap", "BootstrapBrokers"]
    }
    text = (ROOT / "template.yaml").read_text()
    assert "MskTopics.BootstrapBrokers" not in text


# -- Glue 5.1 --------------------------------------------------------------------------------------------


def _spark_conf(job: dict[str, Any]) -> dict[str, str]:
    """Spark settings of the job's single ``--conf`` argument ("a=b --conf c=d" chains several)."""
    value = job["Properties"]["DefaultArguments"].get("--conf", "")
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    pairs = [p.strip() for p in text.split("--conf") if p.strip()]
    return dict(p.split("=", 1) for p in pairs)


def test_both_glue_jobs_tell_s3a_the_stack_region(template: dict[str, Any]) -> None:
    raw = (ROOT / "template.yaml").read_text()
    for name, job in _glue_jobs(template).items():
        conf = _spark_conf(job)
        assert conf.get("spark.hadoop.fs.s3a.endpoint.region") == "${AWS::Region}", name
        # YAML keeps only the last of two equal keys, so count them in the text: Glue takes one --conf.
        start = raw.index(f"\n  {name}:\n")
        following = re.search(r"\n  [A-Za-z0-9]+:\n", raw[start + 1 :])
        end = start + 1 + following.start() if following else len(raw)
        assert raw[start:end].count('"--conf":') == 1, name


def test_streaming_job_has_a_maintenance_window_and_no_timeout(template: dict[str, Any]) -> None:
    job = template["Resources"]["StreamingJob"]["Properties"]
    assert job["MaintenanceWindow"] == {"Ref": "StreamingMaintenanceWindow"} and "Timeout" not in job
    pattern = template["Parameters"]["StreamingMaintenanceWindow"]["AllowedPattern"]
    assert re.fullmatch(pattern, template["Parameters"]["StreamingMaintenanceWindow"]["Default"])
    assert not re.fullmatch(pattern, "Sunday:3")


def test_a_deploy_that_changes_the_streaming_jobs_artifacts_restarts_it(template: dict[str, Any]) -> None:
    rollout = template["Resources"]["StreamingJobRollout"]["Properties"]
    assert rollout["JobName"] == {"Ref": "StreamingJob"}
    args = template["Resources"]["StreamingJob"]["Properties"]["DefaultArguments"]
    artifacts = [v for v in args.values() if isinstance(v, dict) and "Fn::GetAtt" in v]
    assert artifacts, "the parser found no artifact argument"
    for value in artifacts:
        assert value in rollout["Artifacts"], f"changing {value} would not restart the running job"
    # The keep-alive is the rollout function's schedule, not a Glue trigger that never restarts a run.
    triggered = [
        a.get("JobName")
        for t in resources(template, "AWS::Glue::Trigger").values()
        for a in t["Properties"]["Actions"]
    ]
    assert {"Ref": "StreamingJob"} not in triggered
    events = template["Resources"]["StreamingRolloutFunction"]["Properties"]["Events"]
    assert [e["Type"] for e in events.values()] == ["Schedule"]
    # Objects a running job may still read are never deleted by an update.
    glue_library_calls = _api_calls(_modules_of(ROOT / "functions" / "glue_library" / "app.py"))
    assert "s3:DeleteObject" not in glue_library_calls | _allowed(
        template["Resources"]["GlueLibraryFunction"]
    )


def test_the_msk_iam_jar_is_the_thin_one(template: dict[str, Any]) -> None:
    """The -all jar carries its own, older AWS SDK v2 classes unrelocated beside Glue 5.1's SDK."""
    for url in template["Resources"]["GlueLibrary"]["Properties"]["Jars"]:
        m = re.fullmatch(r"https://repo1\.maven\.org/maven2/(.+)/([^/]+)/([^/]+)/([^/]+)\.jar", url)
        assert m, url
        assert m.group(4) == f"{m.group(2)}-{m.group(3)}", f"{url}: a classifier jar, not the plain artifact"


# -- parameters, rules, names ----------------------------------------------------------------------------

RULE_FUNCTIONS = {"Ref", "Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals",
                  "Fn::Not", "Fn::Or", "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll"}  # fmt: skip


def _functions_used(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::"):
                out.add(key)
            out |= _functions_used(value)
    elif isinstance(node, list):
        for item in node:
            out |= _functions_used(item)
    return out


def test_rules_use_only_rule_functions(template: dict[str, Any]) -> None:
    used = _functions_used(template.get("Rules", {}))
    assert used and used <= RULE_FUNCTIONS, f"not allowed in Rules: {sorted(used - RULE_FUNCTIONS)}"


def test_reserved_concurrency_is_a_parameter_that_defaults_to_none(template: dict[str, Any]) -> None:
    assert template["Parameters"]["ReservedConcurrency"]["Default"] == 0
    assert template["Conditions"]["ReservesConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]
    }
    reserved = 0
    for name, fn in functions(template).items():
        value = fn["Properties"].get("ReservedConcurrentExecutions")
        if value is None:
            continue
        cond, _when_set, when_not = value["Fn::If"]
        assert cond == "ReservesConcurrency" and when_not == {"Ref": "AWS::NoValue"}, name
        reserved += 1
    assert reserved == 4


def test_data_bucket_name_is_unique_per_stack_and_the_queue_policies_name_it(
    template: dict[str, Any],
) -> None:
    name = template["Resources"]["DataBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    text, variables = name
    assert text.startswith("smartcity-${Environment}-${AWS::AccountId}-${AWS::Region}-")
    assert "AWS::StackId" in _references(variables)
    longest = {
        "Environment": "prod",
        "AWS::AccountId": "1" * 12,
        "AWS::Region": "ap-southeast-5x",
        "StackSuffix": "f" * 8,
    }
    assert len(re.sub(r"\$\{([^}]+)\}", lambda m: longest[m.group(1)], text)) <= 63, "S3 names are 3-63 chars"
    policies = resources(template, "AWS::SQS::QueuePolicy")
    checked = 0
    for policy in policies.values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            source = st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
            if source:
                arn_text, arn_vars = source["Fn::Sub"]
                assert arn_text == "arn:${AWS::Partition}:s3:::" + text and arn_vars == variables
                checked += 1
    assert checked == len(catalog_tables.LAKE_TABLES)  # one crawler queue per table


def test_every_function_logs_to_a_log_group_with_retention(template: dict[str, Any]) -> None:
    for name, fn in functions(template).items():
        group = fn["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert group and "Ref" in group, f"{name} logs to a group without retention"
        props = template["Resources"][group["Ref"]]["Properties"]
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"} and "LogGroupName" not in props
    for name, group in resources(template, "AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group["Properties"], name


# -- alarms and dashboard watch metrics that something emits ---------------------------------------------
#
# Emitters, each parsed from the code that owns the metric (never a copy of its names):
# - the Powertools functions: ``metrics.add_metric(name=...)`` with the dimension ``service`` (the function's
#   POWERTOOLS_SERVICE_NAME) plus every ``metrics.add_dimension`` before it; ``kind`` takes the values
#   ``smartcity.orchestrate.alerts`` gives ``Alert(kind=...)``;
# - the streaming job: ``put_metric_data`` entries in ``smartcity/stream/metrics.py`` (names and dimension
#   names from its dict literals) in the job's ``--cloudwatch_namespace``, ``Job`` = the Glue job name;
# - AWS services: the few documented metrics below (Glue job metrics need --enable-metrics on the job;
#   Glue's Kafka lag metric exists only for GlueContext Kafka sources with emitConsumerLagMetrics).

AWS_METRICS: dict[tuple[str, str], frozenset[str]] = {
    ("AWS/Lambda", "Errors"): frozenset({"FunctionName"}),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): frozenset({"QueueName"}),
    ("AWS/Redshift-Serverless", "ComputeCapacity"): frozenset({"Workgroup"}),
}
# Glue job metrics (AWS Glue "Monitoring with CloudWatch metrics"): dimensions JobName, JobRunId, Type.
GLUE_JOB_METRICS = {"glue.driver.aggregate.numCompletedStages": "count"}
GLUE_KAFKA_LAG_METRIC = "glue.driver.streaming.maxConsumerLagInMs"  # only with emitConsumerLagMetrics


def _str_consts(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _imported_strings(tree: ast.Module) -> dict[str, str]:
    """The string constants a handler imports from the package (metric and dimension names live there)."""
    import importlib

    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("smartcity"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if isinstance(value, str):
                    out[alias.asname or alias.name] = value
    return out


def _name_of(node: ast.AST, strings: dict[str, str]) -> str:
    """A metric or dimension name argument: a literal or a constant imported from the package."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    assert isinstance(node, ast.Name) and node.id in strings, f"unresolvable name: {ast.dump(node)}"
    return strings[node.id]


def _alert_kinds() -> set[str]:
    """Every ``kind`` an ``Alert(...)`` in alerts.py can get: string literals in the argument, or the
    module-level or class-level (e.g. an Enum's) constants it names."""
    tree = ast.parse((ORCH / "alerts.py").read_text())
    bodies = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    consts = {
        t.id: _str_consts(n.value)
        for body in bodies
        for n in body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    kinds: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Alert":
            for kw in node.keywords:
                if kw.arg != "kind":
                    continue
                kinds |= _str_consts(kw.value)
                for n in ast.walk(kw.value):
                    name = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else ""
                    kinds |= consts.get(name, set())
    return kinds


def _powertools_emissions(template: dict[str, Any]) -> list[tuple[str, str, dict[str, set[str]]]]:
    """(namespace, metric, {dimension: possible values}) of every Powertools metric a function emits."""
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    out = []
    for fn in functions(template).values():
        app = ROOT / fn["Properties"]["CodeUri"] / "app.py"
        service = fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        tree = ast.parse(app.read_text())
        strings = _imported_strings(tree)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            dims: dict[str, set[str]] = {"service": {service}}
            calls = sorted(
                (n for n in ast.walk(func) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)),
                key=lambda n: (n.lineno, n.col_offset),
            )
            for call in calls:
                kw = {k.arg: k.value for k in call.keywords}
                if call.func.attr == "add_dimension":
                    dim = _name_of(kw["name"], strings)
                    value = kw["value"]
                    values = (
                        _alert_kinds()
                        if isinstance(value, ast.Attribute) and value.attr == "kind"
                        else _str_consts(value)
                    )
                    dims[dim] = values
                elif call.func.attr == "add_metric":
                    out.append((namespace["Fn::Sub"], _name_of(kw["name"], strings), dict(dims)))
    return out


def _stream_emissions(template: dict[str, Any]) -> list[tuple[str, str, dict[str, set[str]]]]:
    job = template["Resources"]["StreamingJob"]["Properties"]["DefaultArguments"]
    namespace = job["--cloudwatch_namespace"]["Fn::Sub"]
    tree = ast.parse((ROOT / "smartcity" / "stream" / "metrics.py").read_text())
    [put] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "put_cloudwatch"]
    dim_vars: dict[str, set[str]] = {}
    for node in ast.walk(put):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            names: set[str] = set()
            for elt in node.value.elts:
                if isinstance(elt, ast.Starred) and isinstance(elt.value, ast.Name):
                    names |= dim_vars[elt.value.id]
                elif isinstance(elt, ast.Dict):
                    names |= {
                        v.value
                        for k, v in zip(elt.keys, elt.values, strict=True)
                        if isinstance(k, ast.Constant) and k.value == "Name" and isinstance(v, ast.Constant)
                    }
            for target in node.targets:
                if isinstance(target, ast.Name) and names:
                    dim_vars[target.id] = names
    out = []
    for node in ast.walk(put):
        if isinstance(node, ast.Dict):
            entry = {
                k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)
            }
            if "MetricName" in entry and isinstance(entry.get("Dimensions"), ast.Name):
                dims = {d: {"*"} for d in dim_vars[entry["Dimensions"].id]}
                dims["Job"] = {"${StreamingJob}"}
                out.append((namespace, entry["MetricName"].value, dims))  # type: ignore[attr-defined]
    assert out, "the parser found no metric in put_cloudwatch"
    return out


def _glue_emissions(template: dict[str, Any]) -> list[tuple[str, str, dict[str, set[str]]]]:
    out = []
    code = " ".join(
        p.read_text()
        for p in [ROOT / "glue_streaming" / "job.py", *(ROOT / "smartcity" / "stream").glob("*.py")]
    )
    for name, job in _glue_jobs(template).items():
        if job["Properties"]["DefaultArguments"].get("--enable-metrics") != "true":
            continue
        metrics = dict(GLUE_JOB_METRICS)
        if name == "StreamingJob" and "emitConsumerLagMetrics" in code:
            metrics[GLUE_KAFKA_LAG_METRIC] = "gauge"
        for metric, kind in metrics.items():
            out.append(("Glue", metric, {"JobName": {f"${{{name}}}"}, "JobRunId": {"ALL"}, "Type": {kind}}))
    return out


def _emitted(template: dict[str, Any]) -> list[tuple[str, str, dict[str, set[str]]]]:
    return _powertools_emissions(template) + _stream_emissions(template) + _glue_emissions(template)


def _value(v: Any) -> str:
    if isinstance(v, dict) and "Ref" in v:
        return f"${{{v['Ref']}}}"
    if isinstance(v, dict) and "Fn::GetAtt" in v:
        return "${" + ".".join(v["Fn::GetAtt"]) + "}"
    if isinstance(v, dict) and "Fn::Sub" in v:
        return v["Fn::Sub"]
    return str(v)


def _is_emitted(
    emitted: list[tuple[str, str, dict[str, set[str]]]], ns: str, metric: str, dims: dict[str, str]
) -> bool:
    if ns.startswith("AWS/"):
        return AWS_METRICS.get((ns, metric)) == frozenset(dims)
    return any(
        e_ns == ns
        and e_metric == metric
        and set(e_dims) == set(dims)
        and all("*" in e_dims[d] or v in e_dims[d] for d, v in dims.items())
        for e_ns, e_metric, e_dims in emitted
    )


def test_every_alarm_watches_a_metric_with_exactly_the_dimensions_something_emits(
    template: dict[str, Any],
) -> None:
    emitted = _emitted(template)
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        p = alarm["Properties"]
        dims = {d["Name"]: _value(d["Value"]) for d in p.get("Dimensions", [])}
        assert _is_emitted(emitted, _value(p["Namespace"]), p["MetricName"], dims), (
            f"{name}: nothing emits {p['MetricName']} {dims} in {_value(p['Namespace'])}"
        )


def test_every_alert_kind_has_an_alarm(template: dict[str, Any]) -> None:
    kinds = _alert_kinds()
    assert {"crawler", "job", "streaming-job"} <= kinds, kinds
    watched = {
        d["Value"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "AlertsPublished"
        for d in a["Properties"]["Dimensions"]
        if d["Name"] == "kind"
    }
    assert watched == kinds, f"alert kinds without an alarm: {sorted(kinds - watched)}"


def test_every_dashboard_metric_is_emitted(template: dict[str, Any]) -> None:
    import json

    emitted = _emitted(template)
    body = template["Resources"]["PipelineDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body.replace("${AWS::Region}", "us-east-1"))["widgets"]
    checked = 0
    for widget in widgets:
        for line in widget["properties"]["metrics"]:
            items = [i for i in line if not isinstance(i, dict)]
            if not items:  # an expression (SEARCH) line
                expr = line[0]["expression"]
                assert "SEARCH(" in expr and "MetricName=" in expr
                metric = re.search(r'MetricName=\\?"([^"\\]+)', expr)
                ns = re.search(r"SEARCH\('\{(.+?),", expr)
                assert metric and ns
                assert ns.group(1).startswith("AWS/") or any(
                    e[0] == ns.group(1) and e[1] == metric.group(1) for e in emitted
                ), expr
                continue
            ns, metric, *rest = items
            dims = dict(zip(rest[::2], rest[1::2], strict=True))
            assert _is_emitted(emitted, ns, metric, dims), f"dashboard: nothing emits {metric} {dims} in {ns}"
            checked += 1
    assert checked >= 5
