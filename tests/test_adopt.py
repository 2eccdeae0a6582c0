"""`amlctl import` (controller.adopt) without the engine: MLClient reads a workspace "made in the
portal" on the local simulation, through the simulation's transport, and the manifests it writes.

The engine half (recording the import in the stack's state, the round trip) is
tests/test_adopt_engine.py.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import sim_seed
from conftest import REPO, amlctl, write_tree
from controller.adopt import clean, kinds, simhttp

SECRET_KEY = "c2VjcmV0LWtleQ=="  # the seeded datastore's account key: never written anywhere


def portal_repo(tmp_path: Path, **seed) -> Path:
    """A repository with a local stack and nothing under manifests/, beside a portal workspace."""
    root = write_tree(tmp_path / "repo", {"stacks/Pulumi.local.yaml": sim_seed.STACK})
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    sim_seed.estate(root / ".amlctl" / "local" / "sim", **seed)
    return root


def manifest(root: Path, rel: str) -> dict:
    text = (root / rel).read_text(encoding="utf-8")
    assert text.startswith("# Written by `amlctl import`")
    return yaml.safe_load(text)


# -- the simulation's transport ---------------------------------------------------------------------
def test_the_transport_answers_from_azure_ai_mls_rest_models(tmp_path):
    portal = sim_seed.estate(tmp_path / "sim")
    doc = portal.store.load(sim_seed.WS + "/computes/cpu-cluster")
    doc["properties"]["properties"]["notAnArmField"] = "dropped"  # the REST model does not define it
    portal.store.write(doc)
    got = simhttp.answer(portal.store, "GET", "https://management.azure.com" + sim_seed.WS
                         + "/computes/cpu-cluster?api-version=2023-08-01-preview")
    assert got.status == 200
    assert got.body["id"] == sim_seed.WS + "/computes/cpu-cluster"
    assert got.body["properties"]["computeType"] == "AmlCompute"
    # The discriminated subclass (AmlCompute) kept its own fields, and only those.
    assert got.body["properties"]["properties"]["vmSize"] == "Standard_DS3_v2"
    assert "notAnArmField" not in got.body["properties"]["properties"]
    assert got.body["properties"]["provisioningState"] == "Succeeded"
    listed = simhttp.answer(portal.store, "GET", "https://x" + sim_seed.WS + "/models/credit/versions")
    assert [v["name"] for v in listed.body["value"]] == ["2"]
    # Reads only: the reader can never change the estate.
    assert simhttp.answer(portal.store, "PUT", "https://x" + sim_seed.WS + "/computes/c").status == 405
    assert simhttp.answer(portal.store, "GET", "https://x" + sim_seed.WS.replace("mlw-portal", "nope")
                          + "/computes").status == 404


def test_secrets_never_reach_the_reader(tmp_path):
    portal = sim_seed.estate(tmp_path / "sim", account_key=True)
    stored = portal.store.load(sim_seed.WS + "/datastores/landing")
    stored["properties"]["properties"]["credentials"]["secrets"] = {"$secret": {"sha256": "ab"}}
    portal.store.write(stored)
    got = simhttp.answer(portal.store, "GET", "https://x" + sim_seed.WS + "/datastores/landing")
    assert got.body["properties"]["credentials"] == {"credentialsType": "AccountKey"}


# -- the manifests ----------------------------------------------------------------------------------
def test_import_writes_one_bare_az_ml_file_per_object(tmp_path):
    root = portal_repo(tmp_path, account_key=True)
    run = amlctl("import", "--stack", "local", "--no-state", cwd=root)
    assert run.code == 0, run.err
    assert "experimental" not in run.err  # azure-ai-ml's noise is kept from the person
    compute = manifest(root, "manifests/compute/cpu-cluster.yaml")
    assert compute == {"$schema": "https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json",
                       "name": "cpu-cluster", "type": "amlcompute", "size": "Standard_DS3_v2", "tier": "dedicated",
                       "min_instances": 0, "max_instances": 4, "idle_time_before_scale_down": 120,
                       "enable_node_public_ip": True}
    env = manifest(root, "manifests/environments/score-env.yaml")
    assert env["version"] == "3" and env["conda_file"]["dependencies"] == ["python=3.11", "pip"]
    assert "creation_context" not in env and "id" not in env
    deployment = manifest(root, "manifests/endpoints/credit-online-blue.yaml")
    # References as az ml files write them, not the ARM ids Azure returns.
    assert deployment["model"] == "azureml:credit:2" and deployment["environment"] == "azureml:score-env:3"
    assert "provisioning_state" not in deployment and "scale_settings" not in deployment
    endpoint = manifest(root, "manifests/endpoints/credit-online.yaml")
    assert endpoint["traffic"] == {"blue": 100} and endpoint["identity"] == {"type": "system_assigned"}
    assert manifest(root, "manifests/data/loans.yaml")["path"] == "azureml://datastores/landing/paths/loans/"
    assert manifest(root, "manifests/models/credit.yaml")["tags"] == {"team": "risk"}
    # The system datastores stay Azure ML's; the account key is a reference and a note.
    assert not list(root.glob("manifests/datastores/workspace*"))
    assert "left out Datastore/workspaceblobstore: made with the workspace and unchanged" in run.out
    store = manifest(root, "manifests/datastores/landing.yaml")
    assert store["credentials"] == {"account_key": {"secret_config": "amlctl:landingAccountKey"}}
    assert "config set --secret amlctl:landingAccountKey" in run.out
    for path in root.rglob("manifests/**/*.yaml"):
        assert SECRET_KEY not in path.read_text()
    # The one thing left to do is the secret the note names: validate says the same.
    checked = amlctl("validate", "--strict", cwd=root)
    assert checked.code == 1 and "invalid: 1 error, 0 warnings" in checked.out
    assert "error[K004] Datastore/landing" in checked.out and "amlctl:landingAccountKey" in checked.out


def test_import_never_overwrites_a_file(tmp_path):
    root = portal_repo(tmp_path)
    mine = "# mine\n$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu-cluster\n"
    write_tree(root, {"manifests/compute/cpu-cluster.yaml": mine})
    run = amlctl("import", "--stack", "local", "--no-state", "Compute/cpu-cluster", "Model/credit:2", cwd=root)
    assert run.code == 0, run.err
    assert (root / "manifests/compute/cpu-cluster.yaml").read_text() == mine
    assert "skipped  manifests/compute/cpu-cluster.yaml  (Compute/cpu-cluster: the file exists" in run.out
    # Only what was named is read and written.
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("manifests/**/*.yaml")) == [
        "manifests/compute/cpu-cluster.yaml", "manifests/models/credit.yaml"]


def test_another_workspace_is_written_as_envelopes_naming_it(tmp_path):
    root = portal_repo(tmp_path)
    stack = sim_seed.STACK.replace(f"amlctl:defaultWorkspace: {sim_seed.WS_NAME}", "amlctl:defaultWorkspace: other")
    (root / "stacks/Pulumi.local.yaml").write_text(stack)
    run = amlctl("import", "--stack", "local", "--no-state", "--workspace", sim_seed.WS_NAME, "Data/loans", cwd=root)
    assert run.code == 0, run.err
    doc = manifest(root, f"manifests/{sim_seed.WS_NAME}/data/loans.yaml")
    assert doc["kind"] == "Data" and doc["metadata"] == {"name": "loans", "workspace": sim_seed.WS_NAME}
    assert doc["spec"]["path"] == "azureml://datastores/landing/paths/loans/"


@pytest.mark.parametrize("args, code, said", [
    (("--stack", "nope"), 2, "no stack 'nope'"),
    (("--stack", "local", "Pipeline/training"), 2, "unknown kind 'Pipeline' (not covered by amlctl import yet)"),
    (("--stack", "local", "cpu-cluster"), 2, "is not KIND/NAME"),
    (("--stack", "local", "Compute/gpu"), 1, "not in the workspace: Compute/gpu"),
    (("--stack", "local", "--workspace", "mlw-gone"), 1, "workspace 'mlw-gone' not found"),
])
def test_bad_input_is_said_in_one_line(tmp_path, args, code, said):
    root = portal_repo(tmp_path)
    run = amlctl("import", "--no-state", *args, cwd=root)
    assert run.code == code and said in run.err, run.err
    assert "Traceback" not in run.err
    assert not (root / "manifests").exists()


def test_unchanged_system_datastores_are_left_out_and_changed_ones_written():
    from controller.adopt.reader import Found
    ctx = clean.Context(sim_seed.WS, "westeurope")
    shown = {"name": "workspaceblobstore", "type": "azure_blob", "account_name": "st", "container_name": "c"}
    keyed = Found("Datastore", "workspaceblobstore", None, "azure_blob", shown, credentials="AccountKeyConfiguration")
    assert isinstance(clean.to_manifest(keyed, ctx), clean.Skip)
    identity = Found("Datastore", "workspaceblobstore", None, "azure_blob", shown, credentials=None)
    draft = clean.to_manifest(identity, ctx)
    assert isinstance(draft, clean.Draft) and "credentials" not in draft.document
    own = Found("Datastore", "workspaceartifactstore", None, "azure_blob", shown)
    assert isinstance(clean.to_manifest(own, ctx), clean.Skip)


def test_references_elsewhere_stay_as_they_are():
    elsewhere = "azureml://registries/azureml/models/gpt2/versions/1"
    assert clean.short_reference(elsewhere, sim_seed.WS) == elsewhere
    assert clean.short_reference(f"azureml:{sim_seed.WS}/models/m/versions/3", sim_seed.WS) == "azureml:m:3"
    assert kinds.parse_selector("model/credit:2") == kinds.Selector("Model", "credit", "2")


# -- plan: creates that meet what exists ------------------------------------------------------------
def test_plan_names_a_create_that_exists_on_the_local_target_and_points_at_import(tmp_path):
    root = portal_repo(tmp_path)
    assert amlctl("import", "--stack", "local", "--no-state", "Compute/cpu-cluster", cwd=root).code == 0
    run = amlctl("plan", "--stack", "local", "--from-scratch", "-o", "json", cwd=root)
    assert run.code == 0, run.err  # a warning: the plan itself is fine
    (note,) = [d for d in run.json()["diagnostics"] if d["code"] == "P004"]
    assert note["severity"] == "warning" and note["path"] == "manifests/compute/cpu-cluster.yaml"
    assert "already exists on the local target (made as '(made in the portal)'" in note["message"]
    assert note["message"].endswith("amlctl import --stack local Compute/cpu-cluster")


def test_plan_says_a_collision_on_azure_is_not_knowable_offline():
    run = amlctl("plan", "--stack", "dev", "--from-scratch", "-o", "json", cwd=REPO)
    (note,) = [d for d in run.json()["diagnostics"] if d["code"] == "P004"]
    assert "not knowable offline" in note["message"] and "amlctl import --stack dev" in note["message"]


def test_rendered_resources_match_the_ids_that_exist_and_azure_imports_through_the_programs_provider():
    from controller.adopt import record
    from controller.render.graph import Graph, Resource
    base = {"resourceGroupName": sim_seed.RG, "workspaceName": sim_seed.WS_NAME}
    ml = "azure-native:machinelearningservices:"
    graph = Graph("prod", (
        Resource("w/compute/cpu", ml + "Compute", {**base, "computeName": "cpu"}, "Compute/cpu"),
        Resource("w/model/m", ml + "ModelContainer", {**base, "name": "m"}, "Model/m"),
        Resource("w/model/m@2", ml + "ModelVersion", {**base, "name": "m", "version": "2"}, "Model/m"),
        Resource("w/compute/gpu", ml + "Compute", {**base, "computeName": "gpu"}, "Compute/gpu"),
    ), {"subscriptionId": sim_seed.SUB})
    # azure-ai-ml shows an asset version's id as azureml:<ARM id>; its container exists with it.
    exists = record.existing_ids([sim_seed.WS + "/computes/cpu", "azureml:" + sim_seed.WS + "/models/m/versions/2"])
    found, missing = record.match(graph, exists, sim_seed.SUB)
    assert [m.resource.name for m in found] == ["w/compute/cpu", "w/model/m", "w/model/m@2"]
    assert missing == ["w/compute/gpu"]
    settings = {"target": "azure", "subscriptionId": sim_seed.SUB, "location": "westeurope"}
    specs, table = record.specs(found, settings, Path("unused"), None)
    assert specs[0]["type"] == "pulumi:providers:azure-native" and specs[0]["name"] == "azure-native"
    assert {s["provider"] for s in specs[1:]} == {"azure-native"} and not table
    assert specs[1] == {"type": ml + "Compute", "name": "w/compute/cpu", "id": sim_seed.WS + "/computes/cpu",
                        "provider": "azure-native"}
    urn = "urn:pulumi:prod::amlctl-estate::pulumi:providers:azure-native::azure-native"
    specs, table = record.specs(found, settings, Path("unused"), urn)
    assert table == {"azure-native": urn} and len(specs) == 3  # the provider in the state is reused
