"""Rendering endpoints and deployments: the traffic step, names and dependencies of deployments,
the implicit role assignments of an endpoint's identity."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, write_tree
from controller.render import render
from controller.validate import validate

ML = "azure-native:machinelearningservices:"
TRAFFIC = "amlctl:azureml:EndpointTraffic"
SUB = "11111111-1111-1111-1111-111111111111"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/rg-t/providers/Microsoft.MachineLearningServices/workspaces/mlw-t"

STACK = f"""config:
  amlctl:target: azure
  amlctl:subscriptionId: {SUB}
  amlctl:resourceGroup: rg-t
  amlctl:location: westeurope
  amlctl:defaultWorkspace: mlw-t
"""
WORKSPACE = """apiVersion: amlctl.dev/v1alpha1
kind: Workspace
metadata:
  name: mlw-t
spec:
  location: westeurope
"""
COMPUTE = """apiVersion: amlctl.dev/v1alpha1
kind: Compute
metadata:
  name: cpu
spec:
  type: amlcompute
  size: Standard_DS3_v2
  max_instances: 2
"""


def online_endpoint(name: str, extra: str = "") -> str:
    return f"""apiVersion: amlctl.dev/v1alpha1
kind: OnlineEndpoint
metadata:
  name: {name}
spec:
  auth_mode: key
{extra}"""


def online_deployment(name: str, endpoint: str, instance_type: str = "Standard_DS3_v2", extra: str = "") -> str:
    return f"""apiVersion: amlctl.dev/v1alpha1
kind: OnlineDeployment
metadata:
  name: {name}
spec:
  endpoint_name: {endpoint}
  model: azureml:credit:3
  environment: azureml:score-env:1
  code_configuration:
    code: ../src
    scoring_script: score.py
  instance_type: {instance_type}
  instance_count: 2
{extra}"""


BATCH = """apiVersion: amlctl.dev/v1alpha1
kind: BatchEndpoint
metadata:
  name: nightly
spec:
  defaults:
    deployment_name: v7
---
apiVersion: amlctl.dev/v1alpha1
kind: BatchDeployment
metadata:
  name: v7
spec:
  endpoint_name: nightly
  model: azureml:credit:3
  compute: azureml:cpu
  resources:
    instance_count: 2
  settings:
    mini_batch_size: 10
    output_action: append_row
    retry_settings:
      timeout: 300
"""


def tree(tmp_path: Path, files: dict[str, str], name: str = "repo") -> Path:
    base = {"stacks/Pulumi.dev.yaml": STACK, "manifests/workspace.yaml": WORKSPACE,
            "manifests/compute.yaml": COMPUTE, "manifests/src/score.py": "def init():\n    pass\n"}
    return write_tree(tmp_path / name, {**base, **files})


def rendered(root: Path, allow_errors: bool = False):
    report = validate(root=root, cwd=root, render=False)
    stack = next(s for s in report.stacks if s.name == "dev")
    out = render(report.overlaid["dev"], stack, root=root)
    if not allow_errors:
        errors = [d for d in out.diagnostics if d.severity.value == "error"]
        assert not errors, errors
        return out.graph.by_name()
    return out


def estate(tmp_path: Path, **extra: str) -> dict:
    files = {
        "manifests/endpoints/ep.yaml": online_endpoint("ep-a", "  traffic:\n    green: 20\n    blue: 80\n"
                                                               "  mirror_traffic:\n    canary: 10\n"),
        "manifests/endpoints/blue.yaml": online_deployment("blue", "ep-a"),
        "manifests/endpoints/green.yaml": online_deployment("green", "ep-a"),
        "manifests/endpoints/canary.yaml": online_deployment("canary", "ep-a"),
        "manifests/endpoints/batch.yaml": BATCH,
        **extra,
    }
    return rendered(tree(tmp_path, files))


EP = "mlw-t/online-endpoint/ep-a"


def test_the_endpoint_is_rendered_without_its_traffic(tmp_path: Path) -> None:
    graph = estate(tmp_path)
    ep = graph[EP]
    assert ep.type == ML + "OnlineEndpoint"
    assert "traffic" not in ep.inputs["properties"] and "mirrorTraffic" not in ep.inputs["properties"]
    assert ep.ignore_changes == ("properties.traffic", "properties.mirrorTraffic")
    assert ep.inputs["identity"] == {"type": "SystemAssigned"}  # azure-ai-ml's default
    assert ep.inputs["properties"]["authMode"] == "Key"
    assert ep.inputs["location"] == "westeurope"


def test_traffic_is_its_own_step_after_every_deployment_it_names(tmp_path: Path) -> None:
    graph = estate(tmp_path)
    step = graph[f"{EP}/traffic"]
    assert step.type == TRAFFIC
    assert step.inputs == {
        "endpointId": f"{WS_ID}/onlineEndpoints/ep-a", "resourceGroupName": "rg-t", "workspaceName": "mlw-t",
        "endpointName": "ep-a", "kind": "online", "traffic": {"blue": 80, "green": 20},
        "mirrorTraffic": {"canary": 10}}
    assert list(step.inputs["traffic"]) == ["blue", "green"]  # sorted, whatever the manifest's order
    assert step.depends_on == (EP, f"{EP}/deployments/blue", f"{EP}/deployments/canary",
                               f"{EP}/deployments/green")
    assert str(step.source).startswith("manifests/endpoints/ep.yaml:")


def test_no_traffic_step_without_traffic_fields(tmp_path: Path) -> None:
    graph = rendered(tree(tmp_path, {"manifests/endpoints/ep.yaml": online_endpoint("ep-a"),
                                     "manifests/endpoints/blue.yaml": online_deployment("blue", "ep-a")}))
    assert f"{EP}/traffic" not in graph
    assert not [r for r in graph.values() if r.type == TRAFFIC]
    assert graph[EP].ignore_changes == ("properties.traffic", "properties.mirrorTraffic")


def test_a_mirror_only_endpoint_still_gets_a_step(tmp_path: Path) -> None:
    graph = rendered(tree(tmp_path, {
        "manifests/endpoints/ep.yaml": online_endpoint("ep-a", "  mirror_traffic:\n    blue: 5\n"),
        "manifests/endpoints/blue.yaml": online_deployment("blue", "ep-a")}))
    step = graph[f"{EP}/traffic"]
    assert step.inputs["mirrorTraffic"] == {"blue": 5} and step.inputs["traffic"] == {}
    assert f"{EP}/deployments/blue" in step.depends_on


def test_batch_default_deployment_is_its_own_step(tmp_path: Path) -> None:
    graph = estate(tmp_path)
    ep = graph["mlw-t/batch-endpoint/nightly"]
    assert "defaults" not in ep.inputs["properties"]
    assert ep.ignore_changes == ("properties.defaults",)
    assert ep.inputs["properties"]["authMode"] == "AADToken"
    step = graph["mlw-t/batch-endpoint/nightly/traffic"]
    assert step.type == TRAFFIC
    assert step.inputs["kind"] == "batch" and step.inputs["defaultDeployment"] == "v7"
    assert step.inputs["endpointId"] == f"{WS_ID}/batchEndpoints/nightly"
    assert step.depends_on == ("mlw-t/batch-endpoint/nightly", "mlw-t/batch-endpoint/nightly/deployments/v7")


def test_deployment_depends_on_its_endpoint_and_code_version(tmp_path: Path) -> None:
    graph = estate(tmp_path)
    blue = graph[f"{EP}/deployments/blue"]
    assert blue.type == ML + "OnlineDeployment"
    assert blue.inputs["endpointName"] == "ep-a" and blue.inputs["deploymentName"] == "blue"
    assert EP in blue.depends_on
    code = [d for d in blue.depends_on if d.startswith("mlw-t/code/")]
    assert len(code) == 1 and graph[code[0]].type == ML + "CodeVersion"
    code_name = graph[code[0]].inputs["name"]
    props = blue.inputs["properties"]
    assert props["codeConfiguration"] == {"codeId": f"{WS_ID}/codes/{code_name}/versions/1",
                                          "scoringScript": "score.py"}
    assert props["model"] == f"{WS_ID}/models/credit/versions/3"
    assert props["environmentId"] == f"{WS_ID}/environments/score-env/versions/1"
    # What azure-ai-ml sends for every managed deployment.
    assert blue.inputs["sku"] == {"name": "Default", "capacity": 2}
    assert props["endpointComputeType"] == "Managed" and props["appInsightsEnabled"] is False
    # The code upload is a dependency of the code version, not of the deployment's endpoint.
    assert any(d.startswith("mlw-t/upload/") for d in graph[code[0]].depends_on)


def test_batch_deployment_maps_settings_and_depends_on_its_compute(tmp_path: Path) -> None:
    graph = estate(tmp_path)
    v7 = graph["mlw-t/batch-endpoint/nightly/deployments/v7"]
    assert set(v7.depends_on) >= {"mlw-t/batch-endpoint/nightly", "mlw-t/compute/cpu", "workspace/mlw-t"}
    props = v7.inputs["properties"]
    assert props["compute"] == f"{WS_ID}/computes/cpu"
    assert props["model"] == {"referenceType": "Id", "assetId": f"{WS_ID}/models/credit/versions/3"}
    assert props["resources"] == {"instanceCount": 2, "properties": {}}
    assert (props["miniBatchSize"], props["outputAction"]) == (10, "AppendRow")
    assert props["retrySettings"] == {"timeout": "PT5M"}


def test_two_endpoints_may_both_have_a_blue(tmp_path: Path) -> None:
    graph = rendered(tree(tmp_path, {
        "manifests/endpoints/a.yaml": online_endpoint("ep-a", "  traffic:\n    blue: 100\n"),
        "manifests/endpoints/b.yaml": online_endpoint("ep-b", "  traffic:\n    blue: 100\n"),
        "manifests/endpoints/a-blue.yaml": online_deployment("blue", "ep-a"),
        "manifests/endpoints/b-blue.yaml": online_deployment("blue", "ep-b", "Standard_F4s_v2")}), allow_errors=True)
    graph = graph.graph.by_name()  # validation flags the second 'blue' (M001); rendering names both
    a, b = graph[f"{EP}/deployments/blue"], graph["mlw-t/online-endpoint/ep-b/deployments/blue"]
    assert (a.inputs["endpointName"], b.inputs["endpointName"]) == ("ep-a", "ep-b")
    assert EP in a.depends_on and "mlw-t/online-endpoint/ep-b" not in a.depends_on
    assert "mlw-t/online-endpoint/ep-b" in b.depends_on
    assert b.inputs["properties"]["instanceType"] == "Standard_F4s_v2"
    assert graph["mlw-t/online-endpoint/ep-b/traffic"].depends_on == (
        "mlw-t/online-endpoint/ep-b", "mlw-t/online-endpoint/ep-b/deployments/blue")


def test_amlctl_assigns_no_roles_azure_ml_grants_itself(tmp_path: Path) -> None:
    # A system-assigned endpoint identity is given AcrPull and Storage Blob Data Reader by Azure ML,
    # and the workspace identity its roles on storage and key vault: assigning them again fails on
    # Azure with RoleAssignmentExists. Only RoleAssignment manifests become role assignments.
    graph = estate(tmp_path)
    assert graph[EP].inputs["identity"]["type"] == "SystemAssigned"
    assert not [r for r in graph.values() if r.type == "azure-native:authorization:RoleAssignment"]
    assert not [d for d in graph[f"{EP}/deployments/blue"].depends_on if d.startswith("rbac/")]


def role_assignment(name: str, role: str, scope: str, kind: str = "OnlineEndpoint", of: str = "ep-a") -> str:
    return f"""apiVersion: amlctl.dev/v1alpha1
kind: RoleAssignment
metadata:
  name: {name}
spec:
  principal:
    identity_of: {{kind: {kind}, name: {of}}}
  role: {role}
  scope: {scope}
"""


def test_an_assignment_azure_ml_makes_itself_is_a_warning(tmp_path: Path) -> None:
    plain = estate(tmp_path / "plain")
    registry = WS_ID.split("/providers/")[0] + "/providers/Microsoft.ContainerRegistry/registries/" \
        + plain["mlw-t/registry"].inputs["registryName"]
    account = WS_ID.split("/providers/")[0] + "/providers/Microsoft.Storage/storageAccounts/" \
        + plain["mlw-t/storage"].inputs["accountName"]
    other = f"/subscriptions/{SUB}/resourceGroups/rg-f/providers/Microsoft.Storage/storageAccounts/stfeatures"
    root = tree(tmp_path, {"manifests/endpoints/ep.yaml": online_endpoint("ep-a"),
                           "manifests/rbac.yaml": "---\n".join([
                               role_assignment("pull", "AcrPull", registry),
                               role_assignment("read", "Storage Blob Data Reader", account.replace("Microsoft.Storage", "microsoft.storage")),
                               role_assignment("features", "Storage Blob Data Reader", other),
                               role_assignment("ws", "Storage Blob Data Contributor", account, "Workspace", "mlw-t")])})
    out = rendered(root, allow_errors=True)
    warned = sorted((d.subject, d.line) for d in out.diagnostics if d.code == "R011")
    assert warned == [("RoleAssignment/pull", 8), ("RoleAssignment/read", 18), ("RoleAssignment/ws", 38)]
    assert all(d.severity.value == "warning" for d in out.diagnostics if d.code == "R011")
    # Still rendered as written: the warning says what Azure will do, the manifest decides.
    assert len([r for r in out.graph.resources if r.type.endswith("RoleAssignment")]) == 4


def test_user_assigned_identity_gets_no_implicit_roles(tmp_path: Path) -> None:
    uai = "/subscriptions/x/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"
    graph = rendered(tree(tmp_path, {
        "manifests/endpoints/ep.yaml": online_endpoint("ep-a", f"  identity:\n    type: user_assigned\n"
                                                               f"    user_assigned_identities:\n"
                                                               f"      - resource_id: {uai}\n"),
        "manifests/endpoints/blue.yaml": online_deployment("blue", "ep-a")}))
    # A list of ids: the SDK's shape (the provider sends ARM's {id: {}} map itself).
    assert graph[EP].inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [uai]}
    assert not [r for r in graph.values() if r.type.endswith("RoleAssignment")
                and r.inputs["principalId"] == {"$output": {"resource": EP, "property": "identity.principalId"}}]
    assert not [d for d in graph[f"{EP}/deployments/blue"].depends_on if d.startswith("rbac/")]


def test_instance_type_change_changes_only_that_deployment(tmp_path: Path) -> None:
    before = estate(tmp_path / "a")
    blue = online_deployment("blue", "ep-a", "Standard_F8s_v2")
    after = estate(tmp_path / "b", **{"manifests/endpoints/blue.yaml": blue})
    assert before.keys() == after.keys()
    changed = sorted(n for n in before
                     if before[n].inputs != after[n].inputs or before[n].depends_on != after[n].depends_on)
    assert changed == [f"{EP}/deployments/blue"]
    b, a = before[changed[0]].inputs, after[changed[0]].inputs
    assert (b["properties"]["instanceType"], a["properties"]["instanceType"]) == ("Standard_DS3_v2", "Standard_F8s_v2")
    assert {k: v for k, v in b["properties"].items() if k != "instanceType"} == \
           {k: v for k, v in a["properties"].items() if k != "instanceType"}


def test_an_inline_model_is_registered_anonymously(tmp_path: Path) -> None:
    extra = online_deployment("blue", "ep-a").replace("  model: azureml:credit:3\n", "  model:\n    path: model\n")
    out = rendered(tree(tmp_path, {"manifests/endpoints/ep.yaml": online_endpoint("ep-a"),
                                   "manifests/endpoints/blue.yaml": extra, "manifests/endpoints/model/m.pkl": "x"}))
    models = [r for r in out.values() if r.type == ML + "ModelVersion"]
    assert len(models) == 1 and models[0].inputs["properties"]["isAnonymous"] is True  # see test_inline.py


def test_deployment_without_endpoint_name_is_refused(tmp_path: Path) -> None:
    text = online_deployment("blue", "ep-a").replace("  endpoint_name: ep-a\n", "")
    out = rendered(tree(tmp_path, {"manifests/endpoints/blue.yaml": text}), allow_errors=True)
    errors = [d for d in out.diagnostics if d.severity.value == "error"]
    assert [d.code for d in errors] == ["R001"] and "endpoint_name" in errors[0].message


def test_data_collections_are_registered_as_data_assets(tmp_path: Path) -> None:
    collector = ("  data_collector:\n    sampling_rate: 0.5\n    collections:\n"
                 "      model_inputs:\n        enabled: 'true'\n"
                 "      model_outputs:\n        enabled: 'false'\n        data:\n          name: outs\n"
                 "          path: azureml://datastores/workspaceblobstore/paths/outs\n          version: '2'\n")
    blue_yaml = online_deployment("blue", "ep-a", extra=collector)
    graph = rendered(tree(tmp_path, {"manifests/endpoints/ep.yaml": online_endpoint("ep-a"),
                                     "manifests/endpoints/blue.yaml": blue_yaml}))
    blue = graph[f"{EP}/deployments/blue"]
    collections = blue.inputs["properties"]["dataCollector"]["collections"]
    assert collections["model_inputs"] == {"dataCollectionMode": "Enabled", "samplingRate": 0.5,
                                           "dataId": f"{WS_ID}/data/ep-a-blue-model_inputs/versions/1"}
    assert collections["model_outputs"]["dataId"] == f"{WS_ID}/data/outs/versions/2"
    default = graph["mlw-t/data/ep-a-blue-model_inputs@1"]
    assert default.inputs["properties"]["dataUri"] == \
        "azureml://datastores/workspaceblobstore/paths/modelDataCollector/ep-a/blue/model_inputs"
    assert graph["mlw-t/data/outs@2"].inputs["properties"]["dataUri"] == \
        "azureml://datastores/workspaceblobstore/paths/outs"
    assert {"mlw-t/data/ep-a-blue-model_inputs@1", "mlw-t/data/outs@2"} <= set(blue.depends_on)


def test_example_estate_endpoints() -> None:
    """The example estate's endpoints, rendered with the kinds they stand on (the models and
    environments they reference are left out, so their references are plain ARM ids)."""
    report = validate(root=REPO, cwd=REPO, render=False)
    stack = next(s for s in report.stacks if s.name == "prod")
    keep = ("Workspace", "Compute", "OnlineEndpoint", "OnlineDeployment", "BatchEndpoint", "BatchDeployment")
    out = render([m for m in report.overlaid["prod"] if m.kind in keep], stack, root=REPO)
    assert out.graph is not None, [d.message for d in out.diagnostics]
    graph = out.graph.by_name()
    ep = "mlw-credit/online-endpoint/credit-online"
    step = graph[f"{ep}/traffic"]
    assert step.inputs["traffic"] == {"blue": 90, "green": 10} and "mirrorTraffic" not in step.inputs
    assert step.depends_on == (ep, f"{ep}/deployments/blue", f"{ep}/deployments/green")
    for name in ("blue", "green"):
        d = graph[f"{ep}/deployments/{name}"]
        assert d.inputs["sku"] == {"name": "Default", "capacity": 3}  # prod's overlay
        assert d.inputs["properties"]["requestSettings"]["requestTimeout"] == "PT3S"
    assert graph[f"{ep}/deployments/blue"].inputs["properties"]["livenessProbe"] == {"initialDelay": "PT30S",
                                                                                     "period": "PT10S"}
    assert graph[ep].inputs["properties"]["publicNetworkAccess"] == "Enabled"
    batch = graph["mlw-credit/batch-endpoint/credit-batch/deployments/credit-batch-v7"]
    assert batch.inputs["properties"]["retrySettings"] == {"maxRetries": 3, "timeout": "PT5M"}
    assert "mlw-credit/compute/cpu-cluster" in batch.depends_on


@pytest.mark.parametrize("kind", ["OnlineEndpoint", "OnlineDeployment", "BatchEndpoint", "BatchDeployment"])
def test_every_top_level_field_is_mapped(kind: str) -> None:
    """Top-level fields, also those a form adds (the root allOf branches), carry x-amlctl-arm."""
    from controller import schemas as S
    schemas = S.load()
    doc = schemas.documents[schemas.kinds[kind].file]
    forms = [doc]
    for branch in doc.get("allOf", ()):
        ref = (branch.get("then") or {}).get("$ref", "")
        if ref.startswith("#/$defs/"):
            forms.append(doc["$defs"][ref[len("#/$defs/"):]])
    fields = {k for form in forms for k in form.get("properties", {})}
    assert fields
    missing = sorted(k for k in fields
                     if not any("x-amlctl-arm" in form.get("properties", {}).get(k, {}) for form in forms))
    assert not missing


def test_pipeline_batch_deployment(tmp_path: Path) -> None:
    pipeline = """apiVersion: amlctl.dev/v1alpha1
kind: BatchEndpoint
metadata:
  name: scoring
spec: {}
---
apiVersion: amlctl.dev/v1alpha1
kind: BatchDeployment
metadata:
  name: prepros
spec:
  type: pipeline
  endpoint_name: scoring
  component: azureml:prep_and_score:4
  settings:
    default_compute: cpu
    continue_on_step_failure: false
"""
    graph = rendered(tree(tmp_path, {"manifests/endpoints/pipeline.yaml": pipeline}))
    d = graph["mlw-t/batch-endpoint/scoring/deployments/prepros"]
    assert d.inputs["properties"] == {
        "deploymentConfiguration": {
            "deploymentConfigurationType": "PipelineComponent",
            "componentId": {"referenceType": "Id", "assetId": f"{WS_ID}/components/prep_and_score/versions/4"},
            "settings": {"default_compute": "cpu", "continue_on_step_failure": False}},
        # azure-ai-ml sends the model-scoring settings the service requires, at their defaults.
        "errorThreshold": -1, "maxConcurrencyPerInstance": 1, "miniBatchSize": 10, "outputFileName": "predictions.csv"}
    assert "mlw-t/compute/cpu" in d.depends_on
    assert "mlw-t/batch-endpoint/scoring/traffic" not in graph  # no defaults: no step


def test_rendering_leaves_the_schemas_constants_untouched(tmp_path: Path) -> None:
    import copy
    from controller import schemas as S
    before = copy.deepcopy(S.load().documents)
    extra = ("  environment_variables:\n    A: '1'\n  properties:\n    p: q\n  private_network_connection: true\n")
    graph = estate(tmp_path, **{"manifests/endpoints/blue.yaml": online_deployment("blue", "ep-a", extra=extra)})
    assert graph[f"{EP}/deployments/blue"].inputs["properties"]["properties"] == {"p": "q",
                                                                                  "private-network-connection": True}
    assert graph[f"{EP}/deployments/green"].inputs["properties"]["properties"] == {}
    assert S.load().documents == before


def test_environment_variable_values_are_strings(tmp_path: Path) -> None:
    """YAML reads `WORKER_COUNT: 2` as an int; ARM and the provider type the map string to string."""
    env = "  environment_variables:\n    WORKER_COUNT: 2\n    DEBUG: true\n    NAME: blue\n"
    graph = rendered(tree(tmp_path, {"manifests/endpoints/ep.yaml": online_endpoint("ep-a"),
                                     "manifests/endpoints/blue.yaml": online_deployment("blue", "ep-a", extra=env)}))
    assert graph[f"{EP}/deployments/blue"].inputs["properties"]["environmentVariables"] == {
        "WORKER_COUNT": "2", "DEBUG": "true", "NAME": "blue"}
