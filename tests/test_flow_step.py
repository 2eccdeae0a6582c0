"""A prompt flow as a pipeline step (the corpus' pipeline_job_with_flow_as_component): it renders as
MLClient registers it (the flow's folder uploaded as a code version, an anonymous promptflow_parallel
component version whose body is azure-ai-ml's, the step's componentId its ARM id), and whatever
registration would refuse, validate reports first, without a stack to render (Python API)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import CORPUS, write_tree
from controller.render import render
from controller.validate import validate
from test_render_assets import BASE, ML, WS_ID

FLOW_PIPELINE = CORPUS / "jobs" / "pipelines-with-components" / "pipeline_job_with_flow_as_component"
HERE = "manifests/flowpipe"
TOOLS = '{"code": {"hello.jinja2": {"type": "prompt"}, "hello.py": {"type": "python"}}}\n'


def estate(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    """The corpus pipeline copied byte for byte under manifests/, with what the corpus leaves out:
    the input data, the flow's node sources and the .promptflow/flow.tools.json `pf flow validate` writes."""
    root = write_tree(tmp_path / "repo", {**BASE, "manifests/compute.yaml": (
        "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu-cluster\n"
        "type: amlcompute\nsize: Standard_DS3_v2\nmax_instances: 2\n")})
    shutil.copytree(FLOW_PIPELINE, root / HERE)
    return write_tree(root, {f"{HERE}/data/data.jsonl": '{"text": "hi"}\n',
                             f"{HERE}/basic/hello.jinja2": "{{text}}\n",
                             f"{HERE}/basic/hello.py": "def my_python_tool(prompt): return prompt\n",
                             f"{HERE}/basic/requirements.txt": "promptflow\n",
                             f"{HERE}/basic/.promptflow/flow.tools.json": TOOLS, **(extra or {})})


def errors(root: Path, paths: list[str] | None = None) -> list[tuple[str, str, int]]:
    report = validate(paths, root=root, cwd=root)
    return [(d.code, d.path, d.line) for d in report.diagnostics if d.severity.value == "error"]


def graph(root: Path):
    report = validate(root=root, cwd=root)
    bad = [d.format() for d in report.diagnostics if d.severity.value == "error"]
    assert not bad, bad
    out = render(report.overlaid["dev"], report.stacks[0], root=root)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    return out.graph


def test_the_corpus_flow_pipeline_renders_each_flow_step_as_an_anonymous_flow_component(tmp_path: Path) -> None:
    g = graph(estate(tmp_path))
    resources = g.by_name()
    [code] = [r for r in g.resources if r.type == ML + "CodeVersion"]
    code_id = f"{WS_ID}/codes/{code.inputs['name']}/versions/1"
    code_uri = code.inputs["properties"]["codeUri"]
    assert code_uri.endswith("/basic")  # the flow's folder is the component's code
    blobs = {r.inputs["blobName"] for r in g.resources if r.type == "azure-native:storage:Blob"}
    prefix = code_uri.split("/amlctl-assets/", 1)[1]
    assert {f"{prefix}/flow.dag.yaml", f"{prefix}/.promptflow/flow.tools.json", f"{prefix}/hello.py"} <= blobs
    [run] = [r for r in g.resources if r.type == ML + "Job"]
    steps = run.inputs["properties"]["jobs"]
    versions = {r.inputs["version"]: r for r in g.resources if r.type == ML + "ComponentVersion"}
    assert len(versions) == 2  # the Run file's environment variables make its flow another component
    by_step = {}
    for step in ("flow_node_from_dag", "flow_node_from_run"):
        component_id = steps[step]["componentId"]
        assert component_id.startswith(f"{WS_ID}/components/azureml_anonymous/versions/")
        version = versions[component_id.rsplit("/", 1)[1]]
        assert version.name in run.depends_on and code.name in version.depends_on
        assert steps[step]["type"] == "parallel"
        by_step[step] = version.inputs
    dag = by_step["flow_node_from_dag"]
    assert dag["name"] == "azureml_anonymous"
    assert dag["properties"] == {
        "componentSpec": {"_source": "YAML.COMPONENT", "code": code_id, "flow_definition_uri": code_uri + "/flow.dag.yaml",
                          "is_deterministic": True, "name": "azureml_anonymous", "type": "promptflow_parallel",
                          "version": dag["version"]},
        "isAnonymous": True, "isArchived": False, "properties": {}, "tags": {}}
    from_run = by_step["flow_node_from_run"]["properties"]["componentSpec"]
    assert from_run["code"] == code_id and from_run["flow_definition_uri"] == code_uri + "/flow.dag.yaml"
    assert from_run["environment_variables"] == {"AZURE_OPENAI_API_KEY": "<your-api-key>",
                                                 "AZURE_OPENAI_API_BASE": "<your-api-base>",
                                                 "AZURE_OPENAI_API_TYPE": "azure"}
    # The step's own environment variables stay on the step, as azure-ai-ml sends them.
    assert steps["flow_node_from_dag"]["environment_variables"]["AZURE_OPENAI_API_TYPE"] == "azure"
    assert resources["mlw-test/component/azureml_anonymous"].type == ML + "ComponentContainer"


def test_a_changed_flow_is_a_new_code_and_component_version_and_an_unchanged_one_the_same(tmp_path: Path) -> None:
    def flow_versions(root: Path) -> set[str]:
        return {r.inputs["version"] for r in graph(root).resources if r.type == ML + "ComponentVersion"}
    before = flow_versions(estate(tmp_path / "a"))
    assert flow_versions(estate(tmp_path / "b")) == before
    # azure-ai-ml's own anonymous hash of a flow leaves its code out: this would be the same version.
    changed = flow_versions(estate(tmp_path / "c", {f"{HERE}/basic/hello.py": "def my_python_tool(p): return p * 2\n"}))
    assert changed.isdisjoint(before) and len(changed) == 2


def test_the_render_is_byte_identical_whatever_the_manifest_order(tmp_path: Path) -> None:
    root = estate(tmp_path)
    report = validate(root=root, cwd=root)
    views = [report.overlaid["dev"], list(reversed(report.overlaid["dev"]))]
    texts = {render(v, report.stacks[0], root=root).graph.to_json() for v in views}
    assert len(texts) == 1


def test_a_flow_folder_only_a_run_file_names_is_data(tmp_path: Path) -> None:
    # flow.dag.yaml is a prompt flow document, not a manifest (S002), unless a manifest uses it.
    pipeline = (FLOW_PIPELINE / "pipeline.yml").read_text()
    only_run = pipeline[:pipeline.index("  flow_node_from_dag:")] + pipeline[pipeline.index("  flow_node_from_run:"):]
    root = estate(tmp_path, {f"{HERE}/pipeline.yml": only_run})
    assert errors(root) == []


def _edit(path: str, old: str, new: str, last: bool = False):
    def edit(root: Path) -> None:
        text = (root / path).read_text()
        assert old in text, (old, path)
        at = text.rindex(old) if last else text.index(old)
        (root / path).write_text(text[:at] + new + text[at + len(old):])
    return edit


def _remove(path: str):
    return lambda root: (root / path).unlink()


KEY = "sk-Zm9vYmFyS2V5VmFsdWU"
# (id, what breaks, expected (code, file, line)): each found by validate without a stack.
REFUSED = [
    ("no-flow-tools", _remove(f"{HERE}/basic/.promptflow/flow.tools.json"),
     [("M006", f"{HERE}/pipeline.yml", 16), ("M006", f"{HERE}/pipeline.yml", 27)]),
    ("run-names-no-flow", _edit(f"{HERE}/run.yml", "flow: ./basic", "flow: ./basic-missing"),
     [("M006", f"{HERE}/run.yml", 2)]),
    ("not-a-parallel-step", _edit(f"{HERE}/pipeline.yml", "type: parallel", "type: command", last=True),
     [("S003", f"{HERE}/pipeline.yml", 26)]),
    ("additional-includes", _edit(f"{HERE}/basic/flow.dag.yaml", "environment:", "additional_includes:\n- ../x\n"
                                  "environment:"), [("R001", f"{HERE}/basic/flow.dag.yaml", 28)]),
    ("environment-override", _edit(f"{HERE}/run.yml", "flow: ./basic", "flow: ./basic\nazureml:\n  environment: "
                                   "azureml:pf-env:1"), [("R001", f"{HERE}/run.yml", 4)]),
    ("a-key-in-the-run-file", _edit(f"{HERE}/run.yml", "<your-api-key>", KEY), [("M007", f"{HERE}/run.yml", 4)]),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_validate_reports_what_registering_the_flow_would_refuse_without_rendering(tmp_path: Path, case) -> None:
    _id, edit, expected = case
    root = estate(tmp_path)
    edit(root)
    report = validate(["manifests"], root=root, cwd=root)  # no stack file: nothing is rendered
    assert not report.stacks
    found = [(d.code, d.path, d.line) for d in report.diagnostics if d.severity.value == "error"]
    assert found == expected, [d.format() for d in report.diagnostics]
    for d in report.diagnostics:
        assert "Traceback" not in d.message and KEY not in d.message


def test_render_refuses_a_flow_without_its_tools_file_as_validate_does(tmp_path: Path) -> None:
    root = estate(tmp_path)
    report = validate(root=root, cwd=root)
    (root / HERE / "basic/.promptflow/flow.tools.json").unlink()
    out = render(report.overlaid["dev"], report.stacks[0], root=root)
    assert out.graph is None
    assert [(d.code, d.path, d.line) for d in out.diagnostics if d.severity.value == "error"] == [
        ("M006", f"{HERE}/pipeline.yml", 16)]


def test_a_flow_inside_a_pipeline_component_is_refused_at_validate(tmp_path: Path) -> None:
    component = ("$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json\n"
                 "name: flow_pipeline\nversion: '1'\ntype: pipeline\njobs:\n  flow:\n    type: parallel\n"
                 "    component: ./flowpipe/basic/flow.dag.yaml\n")
    root = estate(tmp_path, {"manifests/flow-component.yml": component})
    assert ("R004", "manifests/flow-component.yml", 8) in errors(root, ["manifests"])


# -- credentials in environment variables: of flow steps, and of every other place that has them -----
def _bare(schema: str, body: str) -> str:
    return f"$schema: https://azuremlschemas.azureedge.net/latest/{schema}.schema.json\n{body}"


STEP = "jobs:\n  s:\n    type: command\n    command: echo\n    environment: azureml:e:1\n"
# (file, body, line of the credential, words of the hint); every variable name here names a credential.
ENVIRONMENT_SECRETS = [
    ("online.yml", _bare("managedOnlineDeployment", "name: blue\nendpoint_name: ep\nmodel: azureml:m:1\n"
                         "environment: azureml:e:1\ninstance_type: Standard_DS3_v2\ninstance_count: 1\n"
                         "environment_variables:\n  OPENAI_KEY: sk-0nl1n3K3yValu3\n"), 9,
     "${{azureml://connections/<connection>/credentials/<name>}}"),
    ("batch.yml", _bare("modelBatchDeployment", "name: b1\nendpoint_name: bep\ntype: model\nmodel: azureml:m:1\n"
                        "compute: azureml:cpu\nsettings:\n  environment_variables:\n"
                        "    DB_PASSWORD: B4tchPassw0rd\n"), 9, "read it when the job runs"),
    ("job.yml", _bare("commandJob", "command: echo\nenvironment: azureml:e:1\nenvironment_variables:\n"
                      "  STORAGE_CONNECTION_STRING: Endpoint=sb://x.servicebus.windows.net/;Name=y\n"), 5,
     "read it when the job runs"),
    ("pipeline.yml", _bare("pipelineJob", "type: pipeline\n" + STEP + "    environment_variables:\n"
                           "      HF_TOKEN: hf_St3pT0k3nValue\n"), 9, "read it when the job runs"),
    ("inline.yml", _bare("pipelineJob", "type: pipeline\njobs:\n  s:\n    type: command\n    component:\n"
                         "      type: command\n      command: echo\n      environment: azureml:e:1\n"
                         "      environment_variables:\n        CLIENT_SECRET: Inl1neS3cretValue\n"), 11,
     "read it when the job runs"),
    ("component.yml", _bare("commandComponent", "name: c\nversion: '1'\ntype: command\ncommand: echo\n"
                            "environment: azureml:e:1\nenvironment_variables:\n  SEARCH_ADMIN_KEY: C0mp0n3ntK3y\n"), 8,
     "read it when the job runs"),
]
# Values and names that look like credentials and are not: kept as written.
NOT_SECRETS = ("  OPENAI_API_KEY: <your-api-key>\n  PARTITION_KEY: customer_id\n  DB_PASSWORD_FILE: /run/secrets/db\n"
               "  PWD: /app\n  MAX_TOKENS: 512\n  INJECTED_KEY: ${{azureml://connections/aoai/credentials/key}}\n"
               "  APPLICATIONINSIGHTS_CONNECTION_STRING: InstrumentationKey=00000000-0000-0000-0000-000000000000;"
               "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/\n")


def test_a_credential_in_any_environment_variables_is_refused_saying_what_to_do_instead(tmp_path: Path) -> None:
    files = {f"m/{name}": body for name, body, _, _ in ENVIRONMENT_SECRETS}
    files["m/clean.yml"] = _bare("commandJob", "command: echo\nenvironment: azureml:e:1\nenvironment_variables:\n"
                                 + NOT_SECRETS)
    root = write_tree(tmp_path / "repo", {"m/ws.yaml": BASE["manifests/ws.yaml"], **files})
    report = validate(["m"], root=root, cwd=root)
    found = {(d.path, d.line): d.message for d in report.diagnostics if d.code == "M007"}
    assert sorted(found) == sorted((f"m/{name}", line) for name, _, line, _ in ENVIRONMENT_SECRETS), found
    for name, body, line, hint in ENVIRONMENT_SECRETS:
        message = found[(f"m/{name}", line)]
        assert hint in message and "names a credential, and its value is written inline" in message
        # The schemas take no {secret_config}/{key_vault_secret} in a variable: the message says so.
        assert "no {secret_config: ...} or {key_vault_secret: ...} here" in message
        assert body.rsplit(": ", 1)[1].strip() not in message  # never the value
