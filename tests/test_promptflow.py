"""Prompt flow deployed as a managed online endpoint: the corpus deploy-flow files in a copy of the
example estate (manifests/chat/), as a user pastes them from the docs. amlctl generates
PRT_CONFIG_OVERRIDE per stack, checks the flow's connections and the endpoint identity's roles, and
renders what azure-ai-ml sends (held field by field in the fidelity case at the end)."""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from conftest import CORPUS, REPO, amlctl
from controller import rbac
from controller.render import render
from controller.validate import validate

FLOW = CORPUS / "generative-ai" / "promptflow"
DAG = "manifests/chat/basic-chat/flow.dag.yaml"
DEPLOYMENT = "mlw-credit/online-endpoint/basic-chat-endpoint/deployments/basic-chat-deployment"
PRT = "PRT_CONFIG_OVERRIDE"

AOAI = """apiVersion: amlctl.dev/v1alpha1
kind: Connection
metadata:
  name: open_ai_connection
spec:
  type: azure_open_ai
  azure_endpoint: https://aoai-chat.openai.azure.com/
  api_version: "2024-06-01"
"""
AOAI_ID = "/subscriptions/1/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai-chat"


def estate(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """The example estate with the corpus prompt flow under manifests/chat (model.yaml's path fixed to
    the flow folder beside it), and `files` written over it."""
    root = tmp_path / "repo"
    for part in ("manifests", "stacks"):
        shutil.copytree(REPO / part, root / part)
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / ".git").mkdir()
    chat = root / "manifests" / "chat"
    shutil.copytree(FLOW / "basic-chat", chat / "basic-chat")
    model = (FLOW / "deploy-flow" / "model.yaml").read_text()
    # Version 1: what `az ml model create` gives a first version, and what the docs' deployment names
    # (amlctl would otherwise derive the version from the content, and `:1` would be another one).
    (chat / "model.yaml").write_text(model.replace("path: ../basic-chat", "path: basic-chat")
                                     .replace("name: basic-chat-model\n", "name: basic-chat-model\nversion: 1\n"))
    for name in ("deployment.yaml", "endpoint-system-identity.yaml"):
        shutil.copy(FLOW / "deploy-flow" / name, chat / name)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def rendered(root: Path, stack: str):
    report = validate(cwd=root, render=False)
    assert report.ok, [d.format() for d in report.diagnostics]
    st = next(s for s in report.stacks if s.name == stack)
    return st, render(report.overlaid[stack], st, root=root)


def line_of(root: Path, rel: str, text: str) -> int:
    return next(i for i, line in enumerate((root / rel).read_text().splitlines(), 1) if text in line)


def codes(report, code: str):
    return [d for d in report.diagnostics if d.code == code]


def generated(settings: dict, deployment: str = "basic-chat-deployment") -> str:
    return (f"deployment.subscription_id={settings['subscriptionId']},deployment.resource_group="
            f"{settings['resourceGroup']},deployment.workspace_name=mlw-credit,"
            f"deployment.endpoint_name=basic-chat-endpoint,deployment.deployment_name={deployment}")


# -- PRT_CONFIG_OVERRIDE ---------------------------------------------------------------------------
def test_prt_config_override_is_generated_from_each_stack_and_the_placeholders_warn(tmp_path):
    root = estate(tmp_path)
    values = {}
    for name in ("local", "dev"):
        stack, out = rendered(root, name)
        graph = out.graph.by_name()
        values[name] = graph[DEPLOYMENT].inputs["properties"]["environmentVariables"][PRT]
        assert values[name] == generated(stack.settings)
        (warned,) = [d for d in out.diagnostics if d.code == "R012"]
        assert (warned.path, warned.line, warned.stack) == (
            "manifests/chat/deployment.yaml", line_of(root, "manifests/chat/deployment.yaml", PRT), name)
        assert "'<subscription_id>' (a placeholder) became" in warned.message
        assert stack.settings["subscriptionId"] in warned.message
        # A deployment that serves no flow gets no such variable.
        blue = graph["mlw-credit/online-endpoint/credit-online/deployments/blue"]
        assert PRT not in blue.inputs["properties"].get("environmentVariables", {})
    assert values["local"] != values["dev"]
    assert "11111111-1111-1111-1111-111111111111" in values["dev"] and "rg-credit-ml-dev" in values["dev"]


def test_a_value_that_is_right_stays_as_written_and_one_of_another_stack_is_replaced(tmp_path):
    local = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    own = generated({"subscriptionId": local["amlctl:subscriptionId"], "resourceGroup": local["amlctl:resourceGroup"]})
    text = (FLOW / "deploy-flow" / "deployment.yaml").read_text()
    start = text.index("deployment.subscription_id=<")
    end = text.index("\n", start) if "\n" in text[start:] else len(text)
    root = estate(tmp_path, {"manifests/chat/deployment.yaml": text[:start] + own + ",app.trace=on" + text[end:]})
    _, out = rendered(root, "local")
    assert [d for d in out.diagnostics if d.code == "R012"] == []
    assert out.graph.by_name()[DEPLOYMENT].inputs["properties"]["environmentVariables"][PRT] == own + ",app.trace=on"
    stack, out = rendered(root, "dev")
    value = out.graph.by_name()[DEPLOYMENT].inputs["properties"]["environmentVariables"][PRT]
    assert value == generated(stack.settings) + ",app.trace=on"  # the manifest's own setting is kept
    (warned,) = [d for d in out.diagnostics if d.code == "R012"]
    assert "(not this stack's) became '11111111-1111-1111-1111-111111111111'" in warned.message


def test_an_inline_flow_model_gets_the_variable_without_a_warning(tmp_path):
    """The flow folder (it holds flow.dag.yaml) is what makes the deployment a prompt flow one."""
    text = (FLOW / "deploy-flow" / "deployment.yaml").read_text()
    text = text.replace("model: azureml:basic-chat-model:1", "model:\n  path: basic-chat")
    text = text[:text.index("environment_variables:")] + "app_insights_enabled: true\n"
    root = estate(tmp_path, {"manifests/chat/deployment.yaml": text})
    (root / "manifests" / "chat" / "model.yaml").unlink()
    stack, out = rendered(root, "dev")
    assert [d.code for d in out.diagnostics if d.code == "R012"] == []
    assert out.graph.by_name()[DEPLOYMENT].inputs["properties"]["environmentVariables"] == {
        PRT: generated(stack.settings)}


def test_the_render_is_byte_identical_whatever_the_order(tmp_path):
    root = estate(tmp_path)
    report = validate(cwd=root, render=False)
    stack = next(s for s in report.stacks if s.name == "prod")
    one = render(report.overlaid["prod"], stack, root=root).graph
    other = render(list(reversed(report.overlaid["prod"])), stack, root=root).graph
    assert one.to_json() == other.to_json()
    assert one.by_name()[DEPLOYMENT].inputs["properties"]["environmentVariables"][PRT] == generated(stack.settings)


# -- connections -----------------------------------------------------------------------------------
FLOW_WITH_TOOLS = """$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: '${chat.output}'}
nodes:
- name: chat
  type: llm
  source: {type: code, path: chat.jinja2}
  api: chat
  connection: open_ai_connection
- name: lookup
  type: python
  source: {type: code, path: lookup.py}
  inputs:
    connection: search_connection
    query: ${inputs.question}
- name: bound
  type: python
  source: {type: code, path: bound.py}
  inputs:
    connection: ${inputs.question}
node_variants:
  chat:
    default_variant_id: variant_0
    variants:
      variant_0:
        node:
          type: llm
          connection: variant_connection
"""


def test_a_connection_no_manifest_defines_warns_at_its_line_and_is_an_error_under_strict(tmp_path):
    root = estate(tmp_path)
    report = validate(cwd=root)
    (found,) = codes(report, "M002")
    assert (found.path, found.line, found.severity.value, found.subject) == (
        DAG, line_of(root, DAG, "connection: open_ai_connection"), "warning", "OnlineDeployment/basic-chat-deployment")
    assert "'open_ai_connection'" in found.message and "workspace 'mlw-credit'" in found.message
    assert report.ok
    strict = validate(cwd=root, strict=True)
    assert [(d.path, d.severity.value) for d in codes(strict, "M002")] == [(DAG, "error")] and not strict.ok
    # A Connection manifest of that name in the deployment's workspace is what the flow reads.
    (root / "manifests" / "chat" / "connection.yaml").write_text(AOAI)
    assert codes(validate(cwd=root, strict=True), "M002") == []


def test_python_tool_and_variant_connections_are_checked_too(tmp_path):
    root = estate(tmp_path, {DAG: FLOW_WITH_TOOLS, "manifests/chat/connection.yaml": AOAI})
    found = codes(validate(cwd=root), "M002")
    assert [(d.line, d.message.split(":")[0]) for d in found] == [
        (line_of(root, DAG, "connection: search_connection"), "nodes[1].inputs.connection"),
        (line_of(root, DAG, "connection: variant_connection"), "node_variants.chat.variants.variant_0.node.connection")]


def test_a_flow_file_with_broken_yaml_is_a_clear_error_with_its_file_and_line(tmp_path):
    # The flow outside the manifest folders: only the prompt flow check reads it.
    broken = (FLOW / "basic-chat" / "flow.dag.yaml").read_text().replace(
        "connection: open_ai_connection", "connection: [open_ai_connection")
    root = estate(tmp_path, {"flows/basic-chat/flow.dag.yaml": broken})
    shutil.rmtree(root / "manifests" / "chat" / "basic-chat")
    model = (root / "manifests" / "chat" / "model.yaml")
    model.write_text(model.read_text().replace("path: basic-chat", "path: ../../flows/basic-chat"))
    report = validate(cwd=root)
    (bad,) = [d for d in report.diagnostics if d.severity.value == "error"]
    assert (bad.path, bad.code) == ("flows/basic-chat/flow.dag.yaml", "Y001")
    assert bad.line >= line_of(root, "flows/basic-chat/flow.dag.yaml", "connection: [") and "YAML syntax" in bad.message


# -- roles -----------------------------------------------------------------------------------------
ENDPOINT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: basic-chat-endpoint
auth_mode: key
"""


def test_missing_roles_warn_and_the_suggested_role_assignments_grant_them(tmp_path):
    aoai = AOAI + f"  open_ai_resource_id: {AOAI_ID}\n"
    root = estate(tmp_path, {"manifests/chat/endpoint-system-identity.yaml": ENDPOINT,
                             "manifests/chat/connection.yaml": aoai})
    missing = codes(validate(cwd=root), "M011")
    assert [(d.path, d.line, d.severity.value, d.subject) for d in missing] == [
        ("manifests/chat/endpoint-system-identity.yaml", 2, "warning", "OnlineEndpoint/basic-chat-endpoint")] * 2
    by_role = {d.message.split("needs the role ")[1].split("'")[1]: d.message for d in missing}
    assert set(by_role) == {"Azure Machine Learning Workspace Connection Secrets Reader",
                            "Cognitive Services OpenAI User"}
    assert "basic-chat-deployment" in by_role["Cognitive Services OpenAI User"]
    assert "manifests/chat/connection.yaml:6" in by_role["Cognitive Services OpenAI User"]  # the connection's type
    snippets = [yaml.safe_load(m[m.index("{apiVersion"):]) for m in by_role.values()]
    assert {s["spec"]["role"]: s["spec"]["scope"] for s in snippets} == {
        "Azure Machine Learning Workspace Connection Secrets Reader": {"kind": "Workspace", "name": "mlw-credit"},
        "Cognitive Services OpenAI User": AOAI_ID}
    (root / "manifests" / "chat" / "rbac.yaml").write_text(yaml.safe_dump_all(snippets))
    report = validate(cwd=root)
    assert codes(report, "M011") == [] and codes(report, "M008") == [] and report.ok
    _, out = rendered(root, "dev")
    roles = {r.inputs["roleDefinitionId"].rsplit("/", 1)[1] for r in out.graph.resources
             if r.subject.startswith("RoleAssignment/basic-chat-endpoint-")}
    assert roles == {rbac.BUILTIN_ROLES["Cognitive Services OpenAI User"], "ea01e6af-a1c1-4350-9563-ad00f8c72ec5"}


def test_what_azure_ml_grants_and_key_auth_need_no_role_assignment(tmp_path):
    """The corpus endpoint sets enforce_access_to_default_secret_stores (its system-assigned identity
    then gets the secrets reader from Azure ML); a connection with an api_key needs no OpenAI role."""
    keyed = AOAI + "  api_key:\n    secret_config: amlctl:openaiKey\n"
    root = estate(tmp_path, {"manifests/chat/connection.yaml": keyed})
    assert codes(validate(cwd=root), "M011") == []
    (root / "manifests" / "chat" / "endpoint-system-identity.yaml").write_text(ENDPOINT)
    (missing,) = codes(validate(cwd=root), "M011")
    assert "Workspace Connection Secrets Reader" in missing.message
    assert "enforce_access_to_default_secret_stores: enabled" in missing.message  # the other way out


def test_a_user_assigned_identity_is_named_by_its_principal_id(tmp_path):
    uai = ENDPOINT + ("identity:\n  type: user_assigned\n  user_assigned_identities:\n"
                      "    - resource_id: /subscriptions/1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
                      "userAssignedIdentities/id-chat\n      principal_id: 5a5a5a5a-0000-4000-8000-000000000001\n")
    root = estate(tmp_path, {"manifests/chat/endpoint-system-identity.yaml": uai})
    (missing,) = codes(validate(cwd=root), "M011")
    assert "user-assigned identity" in missing.message
    snippet = yaml.safe_load(missing.message[missing.message.index("{apiVersion"):])
    assert snippet["spec"]["principal"] == {"object_id": "5a5a5a5a-0000-4000-8000-000000000001",
                                            "type": "ServicePrincipal"}
    (root / "manifests" / "chat" / "rbac.yaml").write_text(yaml.safe_dump(snippet))
    assert codes(validate(cwd=root), "M011") == []


# -- the command line, once ------------------------------------------------------------------------
def test_validate_strict_on_the_command_line(tmp_path):
    root = estate(tmp_path)
    run = amlctl("validate", "--strict", "--output", "json", cwd=root)
    assert run.code == 1, run.out
    found = [d for d in run.json()["diagnostics"] if d["code"] == "M002"]
    assert [(d["path"], d["line"], d["severity"]) for d in found] == [
        (DAG, line_of(root, DAG, "connection: open_ai_connection"), "error")]


# -- fidelity: what azure-ai-ml sends for the same files ------------------------------------------
def test_the_prompt_flow_deployment_renders_what_azure_ai_ml_sends():
    """The corpus deploy-flow files rendered together (tests/fidelity/kinds_endpoints.py, check_promptflow):
    every field azure-ai-ml sends is equal, or one of the differences known-endpoints.yaml explains."""
    import fidelity as F
    (group,) = [g for g in F.GROUPS if g.__name__ == "check_promptflow"]
    outcomes = {o.name: o for o in group()}
    assert [(o.kind, o.name) for o in outcomes.values()] == [
        ("Model", "basic-chat-model"), ("OnlineDeployment", "basic-chat-deployment"),
        ("Environment", "CliV2AnonymousEnvironment"),
        ("OnlineDeployment", "basic-chat-deployment (without PRT_CONFIG_OVERRIDE)")]
    assert [(o.kind, o.error, o.mismatches) for o in outcomes.values() if o.error or o.mismatches] == []
    # The data collector's mode in the provider's spelling (Enabled), where azure-ai-ml sends `enabled`.
    collected = ["properties.dataCollector.collections.model_inputs.dataCollectionMode",
                 "properties.dataCollector.collections.model_outputs.dataCollectionMode"]
    assert sorted(outcomes["basic-chat-deployment"].intentional_paths) == collected + [
        "properties.environmentId", "properties.environmentVariables.PRT_CONFIG_OVERRIDE", "tags"]
    assert sorted(outcomes["basic-chat-deployment (without PRT_CONFIG_OVERRIDE)"].intentional_paths) == collected + [
        "properties.environmentId", "properties.environmentVariables", "tags"]
    assert outcomes["CliV2AnonymousEnvironment"].intentional_paths == ["version"]  # the name and body are equal
    assert outcomes["basic-chat-model"].intentional_paths == ["properties.modelUri"]
    for o in outcomes.values():
        assert o.equal + len(o.intentional_paths) == o.compared and o.equal >= 8

