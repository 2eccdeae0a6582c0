"""Rendering of the platform kinds: Workspace (and what it stands on), Registry, Connection,
ServerlessEndpoint (and its marketplace subscription)."""
from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from conftest import REPO, write_tree
from controller.render import render
from controller.render.graph import Graph, Resource, markers
from controller.validate import validate

ML = "azure-native:machinelearningservices:"
SUB = "11111111-1111-1111-1111-111111111111"
P = "/subscriptions/0/resourceGroups/r/providers"  # ARM ids of things outside the estate


def stack(production: bool = False, name: str = "dev") -> dict[str, str]:
    return {f"stacks/Pulumi.{name}.yaml": (
        "config:\n"
        "  amlctl:target: azure\n"
        f"  amlctl:subscriptionId: {SUB}\n"
        f"  amlctl:resourceGroup: rg-{name}\n"
        "  amlctl:location: westeurope\n"
        "  amlctl:defaultWorkspace: mlw-test\n"
        f"  amlctl:production: {'true' if production else 'false'}\n")}


def envelope(kind: str, name: str, spec: str) -> str:
    body = "".join(f"  {line}\n" for line in spec.strip("\n").splitlines())
    return f"apiVersion: amlctl.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:" + \
        (f"\n{body}" if body else " {}\n")


WORKSPACE = envelope("Workspace", "mlw-test", "location: westeurope\n")


def rendered(tmp_path: Path, files: dict[str, str], stack_name: str = "dev"):
    root = write_tree(tmp_path / "repo", files)
    report = validate(root=root, cwd=root, render=False)
    errors = [d for d in report.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    st = next(s for s in report.stacks if s.name == stack_name)
    return render(report.overlaid[stack_name], st, root=root)


def graph_of(tmp_path: Path, files: dict[str, str], stack_name: str = "dev") -> Graph:
    out = rendered(tmp_path, files, stack_name)
    assert out.graph is not None, [d.message for d in out.diagnostics]
    return out.graph


def of_type(graph: Graph, type_name: str) -> list[Resource]:
    return [r for r in graph.resources if r.type.endswith(":" + type_name)]


# -- Workspace -----------------------------------------------------------------------------------
def test_workspace_creates_its_dependents(tmp_path: Path) -> None:
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE}).by_name()
    ws = g["workspace/mlw-test"]
    for node in ("mlw-test/storage", "mlw-test/keyvault", "mlw-test/insights", "mlw-test/registry"):
        assert node in g and node in ws.depends_on
    assert g["mlw-test/logs"].type == "azure-native:operationalinsights:Workspace"
    account = g["mlw-test/storage"].inputs["accountName"]
    assert ws.inputs["storageAccount"].endswith(f"/providers/Microsoft.Storage/storageAccounts/{account}")
    assert ws.inputs["keyVault"].endswith("/vaults/" + g["mlw-test/keyvault"].inputs["vaultName"])
    assert ws.inputs["containerRegistry"].endswith("/registries/" + g["mlw-test/registry"].inputs["registryName"])
    assert ws.inputs["applicationInsights"].endswith("/components/" + g["mlw-test/insights"].inputs["resourceName"])


SHARED = "/subscriptions/0/resourceGroups/rg-shared/providers"


def test_workspace_adopts_dependents_given_by_arm_id(tmp_path: Path) -> None:
    ids = {
        "storage_account": f"{SHARED}/Microsoft.Storage/storageAccounts/stshared",
        "key_vault": f"{SHARED}/Microsoft.KeyVault/vaults/kv-shared",
        "application_insights": f"{SHARED}/Microsoft.Insights/components/ai",
        "container_registry": f"{SHARED}/Microsoft.ContainerRegistry/registries/cr",
    }
    spec = "".join(f"{k}: {v}\n" for k, v in ids.items())
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": envelope("Workspace", "mlw-test", spec)}).by_name()
    for node in ("mlw-test/storage", "mlw-test/keyvault", "mlw-test/logs", "mlw-test/insights", "mlw-test/registry"):
        assert node not in g
    ws = g["workspace/mlw-test"]
    assert ws.inputs["storageAccount"] == ids["storage_account"]
    assert ws.inputs["keyVault"] == ids["key_vault"]
    assert ws.inputs["applicationInsights"] == ids["application_insights"]
    assert ws.inputs["containerRegistry"] == ids["container_registry"]
    # amlctl's uploads go to the adopted account, in its own resource group.
    container = g["mlw-test/storage/amlctl-assets"]
    assert (container.inputs["accountName"], container.inputs["resourceGroupName"]) == ("stshared", "rg-shared")
    assert container.depends_on == ("workspace/mlw-test",)
    # Azure ML grants the workspace identity its roles on adopted dependents too: none from amlctl.
    assert not of_type(Graph("x", tuple(g.values())), "RoleAssignment")


def test_key_vault_uses_rbac_and_purge_protection(tmp_path: Path) -> None:
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE}).by_name()
    props = g["mlw-test/keyvault"].inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    assert "accessPolicies" not in props
    # As azure-ai-ml's own workspace template has it (workspace_base.json): an RBAC vault with no
    # access policies and no role assignment for the workspace identity, which Azure ML grants itself
    # (a second assignment of the same role would fail with RoleAssignmentExists).
    assert not [r for r in g.values() if r.type == "azure-native:authorization:RoleAssignment"]


@pytest.mark.parametrize("name", ["a-very-long-workspace_name-x12345", "ML_Workspace__With--Dashes",
                                  "abc", "x_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-y"])
def test_dependent_names_are_within_azure_limits(tmp_path: Path, name: str) -> None:
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": envelope("Workspace", name, "")}).by_name()
    storage = g[f"{name}/storage"].inputs["accountName"]
    vault = g[f"{name}/keyvault"].inputs["vaultName"]
    registry = g[f"{name}/registry"].inputs["registryName"]
    logs = g[f"{name}/logs"].inputs["workspaceName"]
    assert re.fullmatch(r"[a-z0-9]{3,24}", storage), storage
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", vault) and "--" not in vault, vault
    assert re.fullmatch(r"[A-Za-z0-9]{5,50}", registry), registry
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]", logs), logs


def test_dependent_names_differ_between_workspaces_sharing_a_prefix(tmp_path: Path) -> None:
    a, b = "mlw-credit-risk-team-a", "mlw-credit-risk-team-b"
    g = graph_of(tmp_path, {**stack(), "manifests/a.yaml": envelope("Workspace", a, ""),
                            "manifests/b.yaml": envelope("Workspace", b, "")}).by_name()
    assert g[f"{a}/storage"].inputs["accountName"] != g[f"{b}/storage"].inputs["accountName"]
    assert g[f"{a}/keyvault"].inputs["vaultName"] != g[f"{b}/keyvault"].inputs["vaultName"]


def test_workspace_arm_body_follows_the_schema(tmp_path: Path) -> None:
    spec = f"""
display_name: Risk
description: Risk models
hbi_workspace: true
public_network_access: disabled
system_datastores_auth_mode: identity
image_build_compute: cpu
primary_user_assigned_identity: {P}/Microsoft.ManagedIdentity/userAssignedIdentities/u
identity:
  type: system_assigned,user_assigned
  user_assigned_identities:
    - resource_id: {P}/Microsoft.ManagedIdentity/userAssignedIdentities/u
customer_managed_key:
  key_vault: {P}/Microsoft.KeyVault/vaults/kv
  key_uri: https://kv.vault.azure.net/keys/k/1
  cosmosdb_id: {P}/Microsoft.DocumentDB/databaseAccounts/c
serverless_compute:
  custom_subnet: {P}/Microsoft.Network/virtualNetworks/v/subnets/s
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
    - {{name: pypi, type: fqdn, destination: pypi.org}}
    - name: lake
      type: private_endpoint
      destination:
        service_resource_id: {P}/Microsoft.Storage/storageAccounts/lake
        subresource_target: dfs
        spark_enabled: false
    - name: adf
      type: service_tag
      destination: {{service_tag: DataFactory, protocol: TCP, port_ranges: 443}}
"""
    ws = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": envelope("Workspace", "mlw-test", spec)}
                  ).by_name()["workspace/mlw-test"].inputs
    assert ws["friendlyName"] == "Risk" and ws["description"] == "Risk models" and ws["hbiWorkspace"] is True
    assert ws["publicNetworkAccess"] == "Disabled" and ws["systemDatastoresAuthMode"] == "Identity"
    assert ws["kind"] == "default" and ws["imageBuildCompute"] == "cpu"
    assert ws["identity"] == {"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": [
        f"{P}/Microsoft.ManagedIdentity/userAssignedIdentities/u"]}
    assert ws["encryption"] == {
        "status": "Enabled", "cosmosDbResourceId": f"{P}/Microsoft.DocumentDB/databaseAccounts/c",
        "keyVaultProperties": {"keyVaultArmId": f"{P}/Microsoft.KeyVault/vaults/kv",
                               "keyIdentifier": "https://kv.vault.azure.net/keys/k/1"}}
    assert ws["serverlessComputeSettings"] == {
        "serverlessComputeCustomSubnet": f"{P}/Microsoft.Network/virtualNetworks/v/subnets/s",
        "serverlessComputeNoPublicIP": False}
    net = ws["managedNetwork"]
    assert net["isolationMode"] == "AllowOnlyApprovedOutbound" and net["firewallSku"] == "Standard"
    assert net["outboundRules"] == {
        "pypi": {"type": "FQDN", "category": "UserDefined", "destination": "pypi.org"},
        "lake": {"type": "PrivateEndpoint", "category": "UserDefined", "destination": {
            "serviceResourceId": f"{P}/Microsoft.Storage/storageAccounts/lake",
            "subresourceTarget": "dfs", "sparkEnabled": False}},
        "adf": {"type": "ServiceTag", "category": "UserDefined", "destination": {
            "serviceTag": "DataFactory", "protocol": "TCP", "portRanges": "443"}}}


def test_workspace_fields_pulumi_cannot_take_are_reported(tmp_path: Path) -> None:
    spec = ("allow_roleassignment_on_rg: false\nnetwork_acls: {default_action: Deny, ip_rules: [{value: 1.2.3.4}]}\n"
            "resource_group: rg-elsewhere\n")
    out = rendered(tmp_path, {**stack(), "manifests/ws.yaml": envelope("Workspace", "mlw-test", spec)})
    warned = sorted(d.message.split(":")[0] for d in out.diagnostics if d.code == "R001")
    assert warned == ["allow_roleassignment_on_rg", "network_acls", "resource_group"]
    assert all(d.severity.value == "warning" for d in out.diagnostics)
    assert out.graph is not None
    ws = out.graph.by_name()["workspace/mlw-test"].inputs
    assert not any(k.startswith("$") for k in ws)


def test_project_stands_on_its_hub(tmp_path: Path) -> None:
    hub_id = f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/Microsoft.MachineLearningServices/workspaces/hub-x"
    g = graph_of(tmp_path, {**stack(),
                            "manifests/hub.yaml": envelope("Workspace", "hub-x", "kind: hub\n"),
                            "manifests/proj.yaml": envelope("Workspace", "proj-x", f"kind: project\nhub_id: {hub_id}\n")
                            }).by_name()
    assert not [n for n in g if n.startswith("proj-x/") and n != "proj-x/datastore/amlctl_assets"]
    project = g["workspace/proj-x"]
    assert project.inputs["hubResourceId"] == hub_id and project.inputs["kind"] == "project"
    assert not {"storageAccount", "keyVault", "applicationInsights", "containerRegistry"} & set(project.inputs)
    assert "workspace/hub-x" in project.depends_on
    datastore = g["proj-x/datastore/amlctl_assets"]
    assert datastore.inputs["properties"]["accountName"] == g["hub-x/storage"].inputs["accountName"]
    assert "hub-x/storage/amlctl-assets" in datastore.depends_on


def _protected(g: dict[str, Resource]) -> set[str]:
    return {n for n, r in g.items() if r.protect}


STATEFUL = {"workspace/mlw-test", "mlw-test/storage", "mlw-test/keyvault", "mlw-test/registry",
            "registry/reg-test", "mlw-test/datastore/amlctl_assets"}
REGISTRY = envelope("Registry", "reg-test", "location: westeurope\nreplication_locations:\n  - location: westeurope\n")


def test_production_stack_protects_stateful_resources(tmp_path: Path) -> None:
    g = graph_of(tmp_path, {**stack(production=True, name="prod"), "manifests/ws.yaml": WORKSPACE,
                            "manifests/reg.yaml": REGISTRY}, "prod").by_name()
    assert _protected(g) == STATEFUL
    assert g["mlw-test/storage"].inputs["sku"] == {"name": "Standard_ZRS"}


def test_dev_stack_protects_nothing(tmp_path: Path) -> None:
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/reg.yaml": REGISTRY}).by_name()
    assert set(g) >= STATEFUL
    assert _protected(g) == set()


def test_example_estate_prod_protects_workspace_storage_vault_and_registry(tmp_path: Path) -> None:
    files = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in
             [REPO / "manifests/workspace.yaml", *sorted((REPO / "manifests/platform").glob("*.yaml"))]}
    files.update({f"stacks/{p.name}": p.read_text(encoding="utf-8") for p in (REPO / "stacks").glob("Pulumi.*.yaml")})
    files = {k: v for k, v in files.items() if not k.endswith("rbac.yaml")}  # it names an online endpoint
    root = write_tree(tmp_path / "estate", files)
    report = validate(root=root, cwd=root, render=False)
    for name, expected in (("prod", True), ("dev", False)):
        st = next(s for s in report.stacks if s.name == name)
        g = render(report.overlaid[name], st, root=root).graph.by_name()
        for node in ("workspace/mlw-credit", "mlw-credit/storage", "mlw-credit/keyvault"):
            assert g[node].protect is expected, (name, node)
        if name == "prod":
            assert g["registry/reg-credit-shared"].protect is True
        else:
            assert "registry/reg-credit-shared" not in g  # dev's amlctl:exclude: prod owns the registry
        assert g["mlw-credit/connection/aoai-explainer"].protect is False
    prod = render(report.overlaid["prod"], next(s for s in report.stacks if s.name == "prod"), root=root).graph
    ws = prod.by_name()["workspace/mlw-credit"].inputs
    assert ws["publicNetworkAccess"] == "Disabled" and ws["hbiWorkspace"] is True
    assert ws["managedNetwork"]["isolationMode"] == "AllowOnlyApprovedOutbound"
    assert prod.by_name()["mlw-credit/registry"].inputs["sku"] == {"name": "Premium"}


# -- Registry ------------------------------------------------------------------------------------
def test_registry_is_flattened_and_replicated(tmp_path: Path) -> None:
    spec = """
location: westeurope
public_network_access: Disabled
intellectual_property: {publisher: contoso}
container_registry: {acr_account_sku: premium}
replication_locations:
  - location: westeurope
    storage_config: {storage_account_hns: true, storage_account_type: Standard_ZRS, replication_count: 2}
  - location: northeurope
tags: {owner: platform}
"""
    g = graph_of(tmp_path, {**stack(), "manifests/reg.yaml": envelope("Registry", "reg-test", spec)}).by_name()
    reg = g["registry/reg-test"]
    assert reg.type == ML + "Registry"
    i = reg.inputs
    assert (i["registryName"], i["resourceGroupName"], i["location"]) == ("reg-test", "rg-dev", "westeurope")
    assert i["identity"] == {"type": "SystemAssigned"}
    assert i["publicNetworkAccess"] == "Disabled" and i["intellectualPropertyPublisher"] == "contoso"
    assert i["tags"]["owner"] == "platform" and i["tags"]["managed-by"] == "amlctl"
    acr = [{"systemCreatedAcrAccount": {"acrAccountSku": "Premium"}}]
    created = {"systemCreatedStorageAccount": {"storageAccountHnsEnabled": True, "storageAccountType": "standard_zrs"}}
    default = {"systemCreatedStorageAccount": {"storageAccountHnsEnabled": False, "storageAccountType": "standard_lrs"}}
    assert i["regionDetails"] == [
        {"location": "westeurope", "acrDetails": acr, "storageAccountDetails": [created, created]},
        {"location": "northeurope", "acrDetails": acr, "storageAccountDetails": [default]}]
    assert "properties" not in i and "description" not in i


@pytest.mark.parametrize("spec, where", [
    (f"container_registry: {P}/Microsoft.ContainerRegistry/registries/cr\n"
     "replication_locations:\n  - location: westeurope\n", "container_registry"),
    ("replication_locations:\n  - location: westeurope\n    storage_config:\n"
     f"      - {P}/Microsoft.Storage/storageAccounts/st\n", "storage_config"),
])
def test_registry_refuses_existing_resources_pulumi_cannot_take(tmp_path: Path, spec: str, where: str) -> None:
    reg = envelope("Registry", "reg-test", "location: westeurope\n" + spec)
    out = rendered(tmp_path, {**stack(), "manifests/reg.yaml": reg})
    assert out.graph is None
    errors = [d for d in out.diagnostics if d.severity.value == "error"]
    assert [d.code for d in errors] == ["R001"] and where in errors[0].message


# -- Connection ----------------------------------------------------------------------------------
CONNECTION = envelope("Connection", "aoai", """
type: azure_open_ai
azure_endpoint: https://aoai.openai.azure.com/
api_version: "2024-06-01"
api_key:
  secret_config: amlctl:openaiKey
""")


def test_connection_key_is_a_secret_marker(tmp_path: Path) -> None:
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/conn.yaml": CONNECTION})
    conn = g.by_name()["mlw-test/connection/aoai"]
    assert conn.type == ML + "WorkspaceConnection"
    assert conn.inputs["connectionName"] == "aoai" and conn.inputs["workspaceName"] == "mlw-test"
    assert conn.inputs["properties"] == {
        "category": "AzureOpenAI", "target": "https://aoai.openai.azure.com/", "authType": "ApiKey",
        "credentials": {"key": {"$secret": {"config": "amlctl:openaiKey"}}}, "isSharedToAll": True,
        "metadata": {"ApiType": "Azure", "ApiVersion": "2024-06-01"}}
    assert [(p, k) for p, k, _ in markers(conn.inputs)] == [(("properties", "credentials", "key"), "$secret")]
    assert "workspace/mlw-test" in conn.depends_on
    assert "secret_config" not in g.to_json()


def test_connection_credentials_secrets_are_markers(tmp_path: Path) -> None:
    conn = envelope("Connection", "feed", """
type: python_feed
target: https://pkgs.example.com/simple/
credentials:
  type: username_password
  username: ci-bot
  password:
    key_vault_secret: https://kv.vault.azure.net/secrets/feed-password
""")
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/conn.yaml": conn})
    props = g.by_name()["mlw-test/connection/feed"].inputs["properties"]
    assert props["authType"] == "UsernamePassword" and props["category"] == "PythonFeed"
    assert props["credentials"] == {"username": "ci-bot", "password": {
        "$secret": {"keyVault": "https://kv.vault.azure.net/secrets/feed-password"}}}


def test_inline_connection_secret_never_reaches_a_graph(tmp_path: Path) -> None:
    value = "sk-live-0123456789abcdef"
    conn = CONNECTION.replace("api_key:\n    secret_config: amlctl:openaiKey", f"api_key: {value}")
    root = write_tree(tmp_path / "repo", {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/conn.yaml": conn})
    report = validate(root=root, cwd=root, render=False)
    assert any(d.severity.value == "error" and "api_key" in d.message for d in report.diagnostics)
    # Even rendered regardless of validation, the value is refused, not copied.
    out = render(report.overlaid["dev"], report.stacks[0], root=root)
    assert out.graph is None and [d.code for d in out.diagnostics if d.severity.value == "error"] == ["R005"]
    assert value not in json.dumps([d.message for d in out.diagnostics])


def test_connection_without_credentials(tmp_path: Path) -> None:
    conn = envelope("Connection", "feed", "type: python_feed\ntarget: https://pypi.org/simple/\n")
    aoai = envelope("Connection", "aoai", "type: azure_open_ai\nazure_endpoint: https://a.openai.azure.com/\n")
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/conn.yaml": conn,
                            "manifests/aoai.yaml": aoai}).by_name()
    assert g["mlw-test/connection/feed"].inputs["properties"]["authType"] == "None"
    assert g["mlw-test/connection/aoai"].inputs["properties"]["authType"] == "AAD"  # Microsoft Entra ID


# -- ServerlessEndpoint --------------------------------------------------------------------------
def serverless(name: str, model_id: str) -> str:
    return envelope("ServerlessEndpoint", name, f"model_id: {model_id}\n")


def test_third_party_model_gets_a_marketplace_subscription(tmp_path: Path) -> None:
    model = "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE,
                            "manifests/a.yaml": serverless("llama-a", model),
                            "manifests/b.yaml": serverless("llama-b", model)}).by_name()
    subs = [r for r in g.values() if r.type == ML + "MarketplaceSubscription"]
    assert len(subs) == 1  # one per model and workspace
    sub = subs[0]
    assert sub.inputs == {"resourceGroupName": "rg-dev", "workspaceName": "mlw-test",
                          "name": "Meta-Llama-3-1-8B-Instruct", "properties": {"modelId": model}}
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]", sub.inputs["name"])
    for name in ("llama-a", "llama-b"):
        ep = g[f"mlw-test/serverless-endpoint/{name}"]
        assert sub.name in ep.depends_on and "workspace/mlw-test" in ep.depends_on
        assert ep.inputs["sku"] == {"name": "Consumption"} and ep.inputs["location"] == "westeurope"
        assert ep.inputs["properties"] == {"modelSettings": {"modelId": model}, "authMode": "Key"}
        assert ep.inputs["tags"]["managed-by"] == "amlctl"


@pytest.mark.parametrize("model_id", [
    "azureml://registries/azureml/models/Phi-3.5-mini-instruct",
    "azureml://locations/westeurope/workspaces/00000000-1111-2222-3333-444444444444/models/ft-llama/versions/1",
    "azureml://registries/reg-test/models/my-finetuned",
])
def test_microsoft_and_own_models_need_no_marketplace_subscription(tmp_path: Path, model_id: str) -> None:
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/reg.yaml": REGISTRY,
                            "manifests/ep.yaml": serverless("phi", model_id)})
    assert not of_type(g, "MarketplaceSubscription")
    assert g.by_name()["mlw-test/serverless-endpoint/phi"].depends_on == ("workspace/mlw-test",)


def test_serverless_endpoint_auth_and_content_safety(tmp_path: Path) -> None:
    ep = envelope("ServerlessEndpoint", "mistral", """
model_id: azureml://registries/azureml-mistral/models/Mistral-large
auth_mode: aad
content_safety: {content_safety_status: disabled}
location: swedencentral
""")
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/ep.yaml": ep}).by_name()
    inputs = g["mlw-test/serverless-endpoint/mistral"].inputs
    assert inputs["location"] == "swedencentral"
    assert inputs["properties"]["authMode"] == "AAD"
    assert inputs["properties"]["contentSafety"] == {"contentSafetyStatus": "Disabled"}
    assert "mlw-test/marketplace-subscription/Mistral-large" in g


# -- the provider takes what we render -----------------------------------------------------------
def _kwargs(cls) -> set[str]:
    return set(inspect.signature(cls._internal_init).parameters) - {"__self__", "resource_name", "opts", "__props__"}


def test_inputs_are_kwargs_of_the_pulumi_classes(tmp_path: Path) -> None:
    pytest.importorskip("pulumi_azure_native")
    import importlib

    import pulumi._types as pt
    from pulumi_azure_native import machinelearningservices as mls

    from controller.program import snake
    ep = serverless("llama", "azureml://registries/azureml-meta/models/Llama-3")
    ws = envelope("Workspace", "mlw-test", f"""
customer_managed_key: {{key_vault: {P}/Microsoft.KeyVault/vaults/kv, key_uri: https://kv.vault.azure.net/keys/k/1}}
serverless_compute: {{no_public_ip: true}}
managed_network: {{isolation_mode: allow_internet_outbound}}
""")
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": ws, "manifests/reg.yaml": REGISTRY,
                            "manifests/conn.yaml": CONNECTION, "manifests/ep.yaml": ep})
    seen = set()
    for r in g.resources:
        package, module, name = r.type.split(":")
        cls = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), name)
        unknown = {k for k in r.inputs if snake(k) not in _kwargs(cls)}
        assert not unknown, (r.name, unknown)
        seen.add(name)
    assert {"Workspace", "Registry", "WorkspaceConnection", "ServerlessEndpoint", "MarketplaceSubscription"} <= seen
    # Nested objects use the provider's wire names too.
    ws_inputs = g.by_name()["workspace/mlw-test"].inputs
    for key, args in (("encryption", mls.EncryptionPropertyArgs), ("managedNetwork", mls.ManagedNetworkSettingsArgs),
                      ("serverlessComputeSettings", mls.ServerlessComputeSettingsArgs)):
        assert set(ws_inputs[key]) <= set(pt.input_type_py_to_pulumi_names(args).values()), key
    region = g.by_name()["registry/reg-test"].inputs["regionDetails"][0]
    assert set(region) <= set(pt.input_type_py_to_pulumi_names(mls.RegistryRegionArmDetailsArgs).values())


def test_compute_instance_settings_the_typed_compute_drops_go_through_the_generic_resource(tmp_path: Path) -> None:
    """pulumi-azure-native's Compute (REST 2025-12-01) has no enableRootAccess, enableOSPatching or
    releaseQuotaOnStop and would drop them: a compute instance is the generic resource, at an API
    version that has them, with the same body; a cluster stays the typed Compute."""
    ci = envelope("Compute", "ci-a", """
type: computeinstance
size: Standard_DS3_v2
enable_root_access: false
identity: {type: system_assigned}
schedules:
  compute_start_stop:
    - action: start
      trigger: {type: recurrence, frequency: week, interval: 1, schedule: {hours: [8], minutes: [0], week_days: [monday]}}
""")
    cluster = envelope("Compute", "cpu", "type: amlcompute\nsize: Standard_DS3_v2\n")
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/c.yaml": ci + "---\n" + cluster}
                 ).by_name()
    r = g["mlw-test/compute/ci-a"]
    assert r.type == "azure-native:resources:Resource"
    assert {k: v for k, v in r.inputs.items() if k not in ("properties", "tags", "location")} == {
        "resourceGroupName": "rg-dev", "resourceProviderNamespace": "Microsoft.MachineLearningServices",
        "parentResourcePath": "workspaces/mlw-test", "resourceType": "computes", "resourceName": "ci-a",
        "apiVersion": "2025-01-01-preview", "identity": {"type": "SystemAssigned"}}
    props = r.inputs["properties"]
    assert props["computeType"] == "ComputeInstance"
    assert (props["properties"]["enableRootAccess"], props["properties"]["enableOSPatching"],
            props["properties"]["releaseQuotaOnStop"]) == (False, False, False)
    # The trigger type is the schedule's, not the recurrence's; the action is ARM's Start.
    assert props["properties"]["schedules"]["computeStartStop"] == [{
        "action": "Start", "status": "Enabled", "triggerType": "Recurrence",
        "recurrence": {"frequency": "Week", "interval": 1,
                       "schedule": {"hours": [8], "minutes": [0], "weekDays": ["Monday"]}}}]
    assert g["mlw-test/compute/cpu"].type == "azure-native:machinelearningservices:Compute"


def test_a_recurrence_of_single_values_renders_as_lists(tmp_path: Path) -> None:
    """The CLI takes `hours: 8` or `week_days: monday`; ARM and the provider take only lists (a
    string iterated would be ['M', 'o', ...])."""
    ci = envelope("Compute", "ci-b", """
type: computeinstance
size: Standard_DS3_v2
schedules:
  compute_start_stop:
    - action: stop
      trigger: {type: recurrence, frequency: week, interval: 1, schedule: {hours: 19, minutes: 30, week_days: friday}}
""")
    g = graph_of(tmp_path, {**stack(), "manifests/ws.yaml": WORKSPACE, "manifests/c.yaml": ci}).by_name()
    entry, = g["mlw-test/compute/ci-b"].inputs["properties"]["properties"]["schedules"]["computeStartStop"]
    assert entry["recurrence"]["schedule"] == {"hours": [19], "minutes": [30], "weekDays": ["Friday"]}
