"""Issue 14's resource kinds as data: attached compute (virtual machines, Synapse Spark pools),
OneLake datastores, capability hosts of hubs and projects, a hub's associated_workspaces, and the
replace rules `plan` and the local target read for them (controller/plan/immutable.py). The estate is
the coverage estate's resources area (tests/estates/coverage/resources over base/), which
tests/test_coverage_engine.py applies with the real engine; here it is only validated, rendered,
planned, held against pulumi-azure-native's input types and against azure-ai-ml's REST bodies."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import coverage_area as area
from controller import plan as P
from controller.render.graph import Graph, Resource

ML = "azure-native:machinelearningservices:"
GENERIC = "azure-native:resources:Resource"
COVERAGE = area.COVERAGE
SUB = "00000000-0000-0000-0000-00000000beef"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-cov/providers"
VM_ID = f"{RG}/Microsoft.Compute/virtualMachines/vm-res"


def estate(tmp_path: Path, edits: dict[str, tuple[str, str]] | None = None,
           extra: dict[str, str] | None = None) -> Path:
    """base/ and the resources area in one folder; `edits`: file -> (old, new) text replacements;
    `extra`: more files."""
    return area.lay(tmp_path / "estate", "resources", edits, extra)


errors = area.problems
graph = area.graph


def envelope(kind: str, name: str, spec: str, workspace: str | None = None) -> str:
    ws = f"\n  workspace: {workspace}" if workspace else ""
    body = "".join(f"  {line}\n" for line in spec.strip("\n").splitlines())
    return f"apiVersion: amlctl.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}{ws}\nspec:\n{body}"


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> dict[str, Resource]:
    return graph(estate(tmp_path_factory.mktemp("res"))).by_name()


def test_the_resources_area_validates_clean(tmp_path: Path) -> None:
    assert errors(estate(tmp_path)) == []


# -- attached compute ------------------------------------------------------------------------------
def test_an_attached_vm_is_a_typed_compute_with_its_password_as_a_secret_reference(resources) -> None:
    vm = resources["mlw-cov/compute/res-vm"]
    assert vm.type == ML + "Compute"
    assert vm.inputs["properties"] == {
        "computeType": "VirtualMachine", "resourceId": VM_ID,
        "description": "GPU box of the forecasting team, attached",
        "properties": {"sshPort": 22, "administratorAccount": {
            "username": "azureuser",
            "password": {"$secret": {"keyVault": "https://kv-res.vault.azure.net/secrets/vm-res-admin"}}}}}


def test_a_vm_password_or_key_from_secret_config_is_a_secret_and_the_port_defaults_to_22(tmp_path: Path) -> None:
    root = estate(tmp_path, {"manifests/compute.yaml": (
        "  admin_password:\n    key_vault_secret: https://kv-res.vault.azure.net/secrets/vm-res-admin\n"
        "  ssh_port: 22\n",
        "  ssh_private_key_file:\n    secret_config: amlctl:resVmKey\n")})
    account = graph(root).by_name()["mlw-cov/compute/res-vm"].inputs["properties"]["properties"]
    assert account == {"sshPort": 22, "administratorAccount": {
        "username": "azureuser", "privateKeyData": {"$secret": {"config": "amlctl:resVmKey"}}}}


@pytest.mark.parametrize("credential, what", [
    ("  admin_password: hunter2-not-a-secret\n", "ssh_settings.admin_password is a credential written inline"),
    ("  ssh_private_key_file: ~/.ssh/id_rsa\n", "a private SSH key never lives in git"),
])
def test_a_vm_credential_written_inline_is_refused_with_its_line(tmp_path: Path, credential: str, what: str) -> None:
    root = estate(tmp_path, {"manifests/compute.yaml": (
        "  admin_password:\n    key_vault_secret: https://kv-res.vault.azure.net/secrets/vm-res-admin\n", credential)})
    [error] = errors(root)
    assert error.startswith("manifests/compute.yaml:11: [M007]") and what in error
    assert "hunter2" not in error and "id_rsa" not in error  # never echoed


def test_a_vm_without_a_password_or_key_and_a_vm_id_that_is_no_vm_say_so(tmp_path: Path) -> None:
    root = estate(tmp_path, {"manifests/compute.yaml": (
        "  admin_password:\n    key_vault_secret: https://kv-res.vault.azure.net/secrets/vm-res-admin\n", "")})
    assert [e for e in errors(root) if "[S003]" in e] == [
        "manifests/compute.yaml:10: [S003] ssh_settings: ssh_settings needs the admin user's admin_password or "
        "ssh_private_key_file (as a secret reference)"]
    root = estate(tmp_path / "2", {"manifests/compute.yaml": ("Microsoft.Compute/virtualMachines/vm-res",
                                                              "Microsoft.Compute/disks/vm-res")})
    [error] = errors(root)
    assert error.startswith("manifests/compute.yaml:8: [S003] resource_id: expected the ARM id of a virtual machine")


def test_a_vm_without_ssh_settings_is_refused(tmp_path: Path) -> None:
    text = (COVERAGE / "resources" / "manifests" / "compute.yaml").read_text()
    ssh = text[text.index("ssh_settings:"):text.index("---")]
    assert errors(estate(tmp_path, {"manifests/compute.yaml": (ssh, "")})) == [
        "manifests/compute.yaml:4: [S005] missing required field 'ssh_settings'"]


def test_an_attached_synapse_pool_sends_what_azure_ai_ml_sends(resources) -> None:
    spark = resources["mlw-cov/compute/res-spark"]
    assert spark.type == ML + "Compute"
    assert spark.inputs["properties"] == {
        "computeType": "SynapseSpark",
        "resourceId": f"{RG}/Microsoft.Synapse/workspaces/syn-res/bigDataPools/pool1"}
    # pulumi-azure-native takes user-assigned identities as a list of ids.
    assert spark.inputs["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": [f"{RG}/Microsoft.ManagedIdentity/userAssignedIdentities/uai-res"]}


@pytest.mark.parametrize("field", ["scale_settings", "auto_pause_settings"])
def test_a_synapse_pools_own_settings_are_refused_not_dropped(tmp_path: Path, field: str) -> None:
    root = estate(tmp_path, {"manifests/compute.yaml": ("  type: synapsespark\n",
                                                        f"  type: synapsespark\n  {field}:\n    enabled: true\n")})
    [error] = errors(root)
    assert error.startswith(f"manifests/compute.yaml:22: [S003] {field}: ")
    assert "the Synapse pool's own setting: set it on the pool in Synapse" in error


# -- OneLake datastores ------------------------------------------------------------------------------
def test_a_onelake_datastore_renders_the_lakehouse_credential_less(resources) -> None:
    ds = resources["mlw-cov/datastore/res_onelake"]
    assert ds.type == ML + "Datastore"
    assert ds.inputs["properties"] == {
        "datastoreType": "OneLake", "oneLakeWorkspaceName": "sales-fabric",
        "endpoint": "onelake.dfs.fabric.microsoft.com", "description": "Sales lakehouse in Fabric",
        "artifact": {"artifactName": "sales_lakehouse", "artifactType": "LakeHouse"},
        "credentials": {"credentialsType": "None"}, "tags": {}}


def test_a_onelake_service_principal_keeps_its_secret_a_reference(tmp_path: Path) -> None:
    root = estate(tmp_path, {"manifests/datastore.yaml": ("    name: sales_lakehouse\n", (
        "    name: sales_lakehouse\n  credentials:\n    tenant_id: 00000000-0000-0000-0000-0000000000aa\n"
        "    client_id: 00000000-0000-0000-0000-0000000000bb\n"
        "    client_secret:\n      secret_config: amlctl:fabricSp\n"))})
    creds = graph(root).by_name()["mlw-cov/datastore/res_onelake"].inputs["properties"]["credentials"]
    assert creds == {"credentialsType": "ServicePrincipal", "authorityUrl": "https://login.microsoftonline.com",
                     "tenantId": "00000000-0000-0000-0000-0000000000aa",
                     "clientId": "00000000-0000-0000-0000-0000000000bb",
                     "secrets": {"secretsType": "ServicePrincipal",
                                 "clientSecret": {"$secret": {"config": "amlctl:fabricSp"}}}}


@pytest.mark.parametrize("old, new, expected", [
    ("  endpoint: onelake.dfs.fabric.microsoft.com\n", "", "[S005] missing required field 'endpoint'"),
    ("    type: lake_house\n", "    type: warehouse\n", "manifests/datastore.yaml:12: [S003] artifact.type"),
    ("    name: sales_lakehouse\n", "    name: sales_lakehouse\n  credentials:\n    tenant_id: t\n    client_id: c\n"
     "    thumbprint: ab12\n", "[S005] missing required field 'client_secret' in credentials"),
])
def test_bad_onelake_datastores_say_which_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert any(expected in e for e in errors(estate(tmp_path, {"manifests/datastore.yaml": (old, new)}))), expected


# -- capability hosts ---------------------------------------------------------------------------------
def test_a_project_capability_host_names_its_connections_and_waits_for_them(resources) -> None:
    ch = resources["res-proj/capability-host/res-agents"]
    assert ch.type == ML + "CapabilityHost"
    assert ch.inputs == {"resourceGroupName": "rg-cov", "workspaceName": "res-proj", "name": "res-agents",
                         "properties": {"capabilityHostKind": "Agents", "description": "Agents of the project",
                                        "aiServicesConnections": ["res-aiservices"],
                                        "vectorStoreConnections": ["res-search"], "storageConnections": ["res-blob"]}}
    # The AI services connection is the hub's: a project sees its hub's connections.
    assert set(ch.depends_on) == {"workspace/res-proj", "res-hub/connection/res-aiservices",
                                  "res-proj/connection/res-search", "res-proj/connection/res-blob"}
    hub = resources["res-hub/capability-host/res-agents-hub"]
    assert hub.inputs["properties"] == {"capabilityHostKind": "Agents", "description": "Agents of the hub"}


@pytest.mark.parametrize("storage", ["", "  storage_connections: []\n"])
def test_a_project_capability_host_without_storage_gets_the_workspace_blob_store(tmp_path: Path, storage: str) -> None:
    root = estate(tmp_path, {"manifests/hub/hub.yaml": ("  storage_connections: [res-blob]\n", storage)})
    ch = graph(root).by_name()["res-proj/capability-host/res-agents"]
    assert ch.inputs["properties"]["storageConnections"] == ["res-proj/workspaceblobstore"]


@pytest.mark.parametrize("old, new, expected", [
    ("vector_store_connections: [res-search]", "vector_store_connections: [res-nope]",
     ":67: [M003] vector_store_connections[0]: no Connection manifest 'res-nope' in 'res-proj' or 'res-hub'"),
    ("vector_store_connections: [res-search]", "vector_store_connections: [mlw-cov/res-search]",
     ":67: [M009] vector_store_connections[0]: 'mlw-cov/res-search' names a connection of workspace 'mlw-cov'"),
    ("  ai_services_connections: [res-aiservices]\n", "",
     "[S005] missing required field 'ai_services_connections': a project's capability host needs"),
    ("  name: res-agents-hub\n  workspace: res-hub\n", "  name: res-agents-hub\n  workspace: mlw-cov\n",
     "[M009] a capability host lives in an AI hub or project, and workspace 'mlw-cov' is neither"),
    ("capability_host_kind: Agents", "capability_host_kind: Assistants", "[S003] capability_host_kind"),
])
def test_bad_capability_hosts_say_what_and_where(tmp_path: Path, old: str, new: str, expected: str) -> None:
    found = errors(estate(tmp_path, {"manifests/hub/hub.yaml": (old, new)}))
    assert any(e.startswith("manifests/hub/hub.yaml:") and expected in e for e in found), found


# -- a hub's associated_workspaces -----------------------------------------------------------------------
def test_associated_workspaces_is_checked_and_never_sent(resources) -> None:
    hub = resources["workspace/res-hub"]
    assert hub.inputs["kind"] == "hub"
    assert "associatedWorkspaces" not in hub.inputs and "associated_workspaces" not in json.dumps(hub.inputs)


@pytest.mark.parametrize("listed, expected", [
    ("[mlw-cov, res-proj]", "[M009] associated_workspaces[0]: 'mlw-cov' is not a project of hub 'res-hub': it is a "
                            "workspace of kind 'default', not a project"),
    ("[]", "[M009] associated_workspaces leaves out project 'res-proj', whose hub_id names this hub "
           "(manifests/hub/hub.yaml:19:"),
])
def test_associated_workspaces_that_contradict_the_projects_are_errors(tmp_path: Path, listed: str,
                                                                      expected: str) -> None:
    found = errors(estate(tmp_path, {"manifests/hub/hub.yaml": ("associated_workspaces: [res-proj]",
                                                                f"associated_workspaces: {listed}")}))
    assert len(found) == 1 and found[0].startswith("manifests/hub/hub.yaml:10:") and expected in found[0], found


def test_a_project_outside_the_estate_may_be_listed_and_only_a_hub_takes_the_field(tmp_path: Path) -> None:
    assert errors(estate(tmp_path, {"manifests/hub/hub.yaml": (
        "associated_workspaces: [res-proj]",
        f"associated_workspaces: [res-proj, {RG}/Microsoft.MachineLearningServices/workspaces/proj-elsewhere]")})) == []
    found = errors(estate(tmp_path / "2", {"manifests/workspace.yaml": (
        "name: mlw-cov\n", "name: mlw-cov\nassociated_workspaces: [x1y]\n")}))
    assert found == ["manifests/workspace.yaml:3: [S003] associated_workspaces: only a hub (kind: hub) has "
                     "associated workspaces: they are the projects whose hub_id names it"]


# -- replace rules (plan, and the local target) -------------------------------------------------------------
def _changed(before: Graph, name: str, path: str, value: Any) -> Graph:
    def put(inputs: dict, keys: list[str]) -> dict:
        out = json.loads(json.dumps(inputs))
        node = out
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        return out
    return Graph(before.stack, tuple(r if r.name != name else Resource(
        r.name, r.type, put(dict(r.inputs), path.split(".")), r.subject, depends_on=r.depends_on,
        moved_from=r.moved_from) for r in before.resources), before.settings)


@pytest.fixture(scope="module")
def with_instance(tmp_path_factory) -> Graph:
    root = estate(tmp_path_factory.mktemp("ci"), extra={"manifests/instance.yaml": envelope(
        "Compute", "res-ci", "type: computeinstance\nsize: Standard_DS3_v2\n")})
    return graph(root)


@pytest.mark.parametrize("name, path, value, action", [
    ("res-proj/capability-host/res-agents", "properties.description", "other agents", P.REPLACE),
    ("res-proj/capability-host/res-agents", "properties.vectorStoreConnections", [], P.REPLACE),
    ("mlw-cov/compute/res-vm", "properties.description", "shared", P.UPDATE),
    ("mlw-cov/compute/res-vm", "properties.resourceId", VM_ID + "2", P.REPLACE),
    ("mlw-cov/compute/res-spark", "properties.resourceId", f"{RG}/Microsoft.Synapse/workspaces/s/bigDataPools/p2",
     P.REPLACE),
    ("mlw-cov/datastore/res_onelake", "properties.oneLakeWorkspaceName", "other-fabric", P.REPLACE),
    ("mlw-cov/datastore/res_onelake", "properties.artifact.artifactName", "other_lakehouse", P.REPLACE),
    ("mlw-cov/datastore/res_onelake", "properties.description", "renamed", P.UPDATE),
    # A compute instance on the generic resource keeps the typed Compute's rules; a newer REST
    # version of it is the same resource.
    ("mlw-cov/compute/res-ci", "properties.properties.vmSize", "Standard_E4s_v3", P.REPLACE),
    ("mlw-cov/compute/res-ci", "properties.computeType", "AmlCompute", P.REPLACE),
    ("mlw-cov/compute/res-ci", "properties.properties.enableSSO", False, P.UPDATE),
    ("mlw-cov/compute/res-ci", "apiVersion", "2026-01-01-preview", P.UPDATE),
    ("mlw-cov/compute/res-ci", "resourceType", "computez", P.REPLACE),
])
def test_plan_replaces_what_azure_cannot_change_in_place(with_instance: Graph, name: str, path: str, value: Any,
                                                        action: str) -> None:
    [change] = P.diff(with_instance, _changed(with_instance, name, path, value)).changes
    assert (change.name, change.action) == (name, action)


def test_the_compute_instance_is_the_generic_resource(with_instance: Graph) -> None:
    assert with_instance.by_name()["mlw-cov/compute/res-ci"].type == GENERIC


# -- what Azure receives: the provider's input types, and azure-ai-ml's REST bodies ---------------------------
def test_every_resource_of_the_area_conforms_to_pulumi_azure_natives_input_types(tmp_path: Path) -> None:
    import test_conformance as TC
    if not TC.CHECKER.exists():
        pytest.skip("../shared/tools/conformance.py is not beside the repository")
    g = TC.settled(graph(estate(tmp_path, extra={"manifests/instance.yaml": envelope(
        "Compute", "res-ci", "type: computeinstance\nsize: Standard_DS3_v2\n")})))
    conform, total, errs, warnings = TC.check({"resources": g})
    assert (errs, warnings) == ([], [])
    mine = {r["type"] for r in g["resources"] if r["name"].startswith(("mlw-cov/", "res-"))}
    assert {ML + "Compute", ML + "Datastore", ML + "CapabilityHost", GENERIC} <= mine
    assert conform == total > 20


def test_what_is_rendered_matches_azure_ai_ml_field_by_field() -> None:
    import fidelity as F
    [group] = [g for g in F.GROUPS if g.__module__.endswith("kinds_resources")]
    outcomes = group()
    assert {(o.kind, o.name) for o in outcomes} == {
        ("Compute", "res-vm"), ("Compute", "res-spark"), ("Datastore", "res_onelake"),
        ("CapabilityHost", "res-agents"), ("CapabilityHost", "res-agents-hub")}
    assert [(o.name, o.error, o.mismatches) for o in outcomes if o.error or o.mismatches] == []
    assert all(o.compared >= 2 for o in outcomes)
    # The VM's password lands where azure-ai-ml puts the value; the Synapse identity is the list.
    vm = next(o for o in outcomes if o.name == "res-vm")
    assert vm.equal == vm.compared
