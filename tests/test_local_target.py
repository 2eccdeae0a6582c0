"""The local simulation target (controller.engine.local), driven by the real Pulumi engine.

The engine tests run `pulumi` through the Automation API with an inline program (controller.program.build
with the simulated classes), a file backend and a throwaway PULUMI_HOME, all under tmp_path. Most use a
small hand-built graph; one applies the whole dev estate. The provider tests at the end need no engine.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from controller.engine import local
from controller.render.graph import Graph, Resource, output

REPO = Path(__file__).resolve().parent.parent
ENGINE_ROOT = Path.home() / ".cache" / "amlctl" / "pulumi" / "3.259.0"
ML = "azure-native:machinelearningservices:"
SUB = "11111111-1111-1111-1111-111111111111"
RG = "rg-sim"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/w"
EP_ID = WS_ID + "/onlineEndpoints/ep"

needs_engine = pytest.mark.skipif(not (ENGINE_ROOT / "bin" / "pulumi").exists(),
                                  reason=f"no Pulumi engine at {ENGINE_ROOT} (scripts/build-pulumi-engine.sh)")


# -- helpers ----------------------------------------------------------------------------------------
def small_graph(max_nodes: int = 2, instance_type: str = "Standard_DS3_v2") -> Graph:
    """A workspace, a compute, an online endpoint with one deployment and its traffic, a data
    container and version, and a role assignment fed by the endpoint identity's principalId."""
    base = {"resourceGroupName": RG, "workspaceName": "w"}
    ws = Resource("workspace/w", ML + "Workspace", {**base, "location": "westeurope",
                                                    "identity": {"type": "SystemAssigned"}, "kind": "default"},
                  "Workspace/w")
    compute = Resource("w/compute/cpu", ML + "Compute", {
        **base, "computeName": "cpu", "location": "westeurope",
        "properties": {"computeType": "AmlCompute", "properties": {
            "vmSize": "Standard_DS3_v2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": max_nodes}}}},
        "Compute/cpu", depends_on=(ws.name,))
    endpoint = Resource("w/online-endpoint/ep", ML + "OnlineEndpoint", {
        **base, "endpointName": "ep", "location": "westeurope", "identity": {"type": "SystemAssigned"},
        "properties": {"authMode": "Key"}}, "OnlineEndpoint/ep", depends_on=(ws.name,))
    deployment = Resource("w/online-endpoint/ep/deployments/blue", ML + "OnlineDeployment", {
        **base, "endpointName": "ep", "deploymentName": "blue", "location": "westeurope",
        "properties": {"endpointComputeType": "Managed", "instanceType": instance_type},
        "sku": {"name": "Default", "capacity": 1}}, "OnlineDeployment/blue", depends_on=(endpoint.name,))
    traffic = Resource("w/online-endpoint/ep/traffic", local.TRAFFIC, {
        **base, "endpointId": EP_ID, "endpointName": "ep", "kind": "online", "traffic": {"blue": 100}},
        "OnlineEndpoint/ep", depends_on=(endpoint.name, deployment.name))
    container = Resource("w/data/d", ML + "DataContainer", {**base, "name": "d",
                                                             "properties": {"dataType": "uri_folder"}},
                         "Data/d", depends_on=(ws.name,))
    version = Resource("w/data/d@1", ML + "DataVersion", {**base, "name": "d", "version": "1", "properties": {
        "dataType": "uri_folder", "dataUri": "azureml://datastores/x/paths/y/"}}, "Data/d",
        depends_on=(container.name,))
    role = Resource("rbac/reader", "azure-native:authorization:RoleAssignment", {
        "principalId": output(endpoint.name, "identity.principalId"), "principalType": "ServicePrincipal",
        "roleAssignmentName": "3b1c9b3e-0000-4000-8000-000000000001", "scope": WS_ID,
        "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7"},
        "RoleAssignment/reader", depends_on=(endpoint.name, ws.name))
    return Graph("sim", (ws, compute, endpoint, deployment, traffic, container, version, role),
                 {"subscriptionId": SUB, "resourceGroup": RG})


class Target:
    """One Pulumi stack on the local target: a graph to deploy, its state directory and its docs."""

    def __init__(self, tmp: Path, graph: Graph, name: str = "sim") -> None:
        from pulumi import automation as auto
        self.graph = graph
        self.state = tmp / "state"
        self.store = local.Store(self.state)
        (tmp / "backend").mkdir(parents=True, exist_ok=True)
        env = {"PULUMI_CONFIG_PASSPHRASE": "", "PULUMI_SKIP_UPDATE_CHECK": "true",
               "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "PULUMI_HOME": str(tmp / "home"),
               "PYTHONPATH": str(REPO), "PULUMI_PYTHON_CMD": sys.executable}
        cmd = auto.PulumiCommand(root=str(ENGINE_ROOT))
        settings = auto.ProjectSettings(name="amlctl-local-test", runtime="python",
                                        backend=auto.ProjectBackend(url=f"file://{tmp / 'backend'}"))
        self.stack = auto.create_or_select_stack(
            name, "amlctl-local-test", self._program,
            opts=auto.LocalWorkspaceOptions(pulumi_command=cmd, env_vars=env, project_settings=settings))

    def _program(self) -> None:
        from controller.program import build
        build(self.graph, REPO, classes=local.classes(self.state, subscription=SUB))

    def up(self, **kw):
        return self.stack.up(color="never", **kw)

    def docs(self) -> dict[str, dict]:
        """Pulumi name -> document, of the resources the engine made (not the system datastores the
        simulated workspace makes with itself, as Azure ML does)."""
        return {d["name"]: d for d in self.store.documents() if not d.get("system")}

    def doc(self, name: str) -> dict:
        return self.docs()[name]

    def doc_path(self, name: str) -> Path:
        return self.store.path(self.doc(name)["id"])

    def state_names(self) -> set[str]:
        """The Pulumi names the engine's state holds (the stack itself left out)."""
        deployment = self.stack.export_stack().deployment
        return {r["urn"].rsplit("::", 1)[1] for r in deployment.get("resources", [])
                if r["type"].startswith("pulumi-python:dynamic/local/")}

    def ops(self) -> list[dict]:
        return [json.loads(x) for x in (self.state / "operations.jsonl").read_text().splitlines()]


def _replace_resource(graph: Graph, new: Resource) -> Graph:
    return Graph(graph.stack, tuple(new if r.name == new.name else r for r in graph.resources), graph.settings)


def managed(graph: Graph) -> set[str]:
    """The graph resources that have a document of their own (traffic lives in the endpoint's)."""
    return {r.name for r in graph.resources if r.type != local.TRAFFIC}


# -- the real engine ----------------------------------------------------------------------------------
@needs_engine
def test_dev_estate_applies_from_nothing_then_is_all_same(tmp_path: Path) -> None:
    from controller.revisions import render_stack
    from controller import runs
    side = render_stack(REPO, "dev", commits={})
    assert side.graph is not None, [d.format() for d in side.diagnostics]
    # As a first apply hands it over: what serves the fine-tuning run's model waits (controller.runs).
    graph = local.prepare(runs.settle(side.graph, {}, None).graph)
    target = Target(tmp_path, graph, "dev")
    from pulumi import automation as auto
    target.stack.set_config("amlctl:openaiKey", auto.ConfigValue("sk-simulated", secret=True))

    first = target.up()
    assert first.summary.resource_changes == {"create": len(graph.resources) + 1}  # + the stack
    docs = target.docs()
    assert set(docs) == managed(graph)
    assert all(d["simulated"] is True for d in docs.values())
    by_name = graph.by_name()
    # Documents hold the graph's inputs as they are (camelCase wire names).
    cpu = "mlw-credit/compute/cpu-cluster"
    assert docs[cpu]["properties"] == by_name[cpu].inputs
    assert docs[cpu]["id"].endswith("/workspaces/mlw-credit/computes/cpu-cluster")
    # Outputs flow: the role assignment got the endpoint's simulated principalId.
    endpoint = docs["mlw-credit/online-endpoint/credit-online"]
    role = next(d for n, d in docs.items() if n.startswith("rbac/")
                and by_name[n].inputs["principalId"] == output("mlw-credit/online-endpoint/credit-online",
                                                                 "identity.principalId"))
    assert role["properties"]["principalId"] == endpoint["computed"]["identity"]["principalId"]
    # The traffic step wrote the endpoint's traffic; the connection's key never reached the disk.
    assert endpoint["properties"]["properties"]["traffic"] == {"blue": 90, "green": 10}
    assert "sk-simulated" not in json.dumps(list(docs.values()))

    second = target.up()
    assert second.summary.resource_changes == {"same": len(graph.resources) + 1}
    # Reading every document back (refresh) finds nothing to change either.
    refreshed = target.stack.preview(refresh=True, color="never")
    assert set(refreshed.change_summary) == {"same"}, refreshed.change_summary


@needs_engine
def test_changing_max_node_count_updates_the_compute_in_place(tmp_path: Path) -> None:
    target = Target(tmp_path, small_graph(max_nodes=2))
    target.up()
    before = target.doc("w/compute/cpu")

    target.graph = small_graph(max_nodes=5)
    result = target.up()
    assert result.summary.resource_changes.get("update") == 1
    assert "replace" not in result.summary.resource_changes
    after = target.doc("w/compute/cpu")
    assert after["id"] == before["id"] and after["created"] == before["created"]
    assert after["properties"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 5
    assert [o["op"] for o in target.ops() if o["name"] == "w/compute/cpu"] == ["create", "update"]


@needs_engine
def test_a_deployment_that_serves_is_never_replaced_in_place(tmp_path: Path) -> None:
    """As Azure ML: a deployment that takes traffic cannot be deleted, so a same-name replace (delete,
    then create) is refused and changes nothing. amlctl's rollout stage releases such a change beside
    it instead (tests/test_rollout_engine.py); this graph goes to the engine without that stage."""
    from pulumi.automation import errors
    target = Target(tmp_path, small_graph(instance_type="Standard_DS3_v2"))
    target.up()

    target.graph = small_graph(instance_type="Standard_F4s_v2")
    with pytest.raises(errors.CommandError) as failed:
        target.up()
    assert "cannot delete deployment 'blue': it takes 100% of the endpoint's live traffic" in str(failed.value)
    deployment = target.doc("w/online-endpoint/ep/deployments/blue")
    assert deployment["properties"]["properties"]["instanceType"] == "Standard_DS3_v2"
    assert [o["op"] for o in target.ops() if o["name"] == "w/online-endpoint/ep/deployments/blue"] == ["create"]


@needs_engine
def test_refresh_sees_a_workspace_deleted_behind_the_controllers_back(tmp_path: Path) -> None:
    target = Target(tmp_path, small_graph())
    target.up()
    target.doc_path("workspace/w").unlink()  # only the workspace's own document

    result = target.stack.refresh(color="never")
    assert result.summary.resource_changes.get("delete", 0) >= 1, result.summary.resource_changes
    remaining = target.state_names()
    assert "workspace/w" not in remaining
    assert "w/compute/cpu" not in remaining  # ARM forgets the children of a deleted parent
    assert "rbac/reader" in remaining  # its scope is not checked: it may live outside the estate

    target.up()  # the next apply puts everything back
    assert set(target.docs()) == managed(target.graph)
    assert target.state_names() == {r.name for r in target.graph.resources}


@needs_engine
def test_an_edited_document_shows_up_as_drift_and_apply_repairs_it(tmp_path: Path) -> None:
    target = Target(tmp_path, small_graph(max_nodes=2))
    target.up()
    path = target.doc_path("w/compute/cpu")
    doc = json.loads(path.read_text())
    doc["properties"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] = 9
    path.write_text(json.dumps(doc))

    assert target.stack.preview(color="never").change_summary.get("update") is None  # state alone: no news
    drift = target.stack.preview(refresh=True, color="never")
    assert drift.change_summary.get("update") == 1, drift.change_summary

    target.up(refresh=True)
    repaired = target.doc("w/compute/cpu")
    assert repaired["properties"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 2


@needs_engine
def test_a_failure_half_way_leaves_consistent_state_and_a_rerun_converges(tmp_path: Path, monkeypatch) -> None:
    from pulumi.automation.errors import CommandError
    target = Target(tmp_path, small_graph())
    monkeypatch.setenv(local.FAIL_ENV, "w/online-endpoint/ep/deployments/blue")
    with pytest.raises(CommandError, match="simulated failure"):
        target.up()
    in_state, on_disk = target.state_names(), set(target.docs())
    assert "workspace/w" in in_state and "w/online-endpoint/ep" in in_state  # got half way
    assert "w/online-endpoint/ep/deployments/blue" not in in_state | on_disk
    assert "w/online-endpoint/ep/traffic" not in in_state  # never ran: its dependency failed
    assert on_disk == in_state  # every document is in the state and every state entry has a document
    assert not list(target.state.rglob("*.tmp"))

    monkeypatch.delenv(local.FAIL_ENV)
    target.up()
    assert set(target.docs()) == managed(target.graph)
    assert target.doc("w/online-endpoint/ep")["properties"]["properties"]["traffic"] == {"blue": 100}
    assert target.up().summary.resource_changes == {"same": len(target.graph.resources) + 1}


# -- the provider alone ------------------------------------------------------------------------------
def provider(tmp: Path, type_token: str, name: str = "x") -> local.ArmSimulator:
    cls = local.TrafficSimulator if type_token == local.TRAFFIC else local.ArmSimulator
    return cls(type_token, name, str(tmp / "state"), SUB)


def create(tmp: Path, r: Resource, name: str | None = None):
    return provider(tmp, r.type, name or r.name).create(dict(r.inputs))


@pytest.mark.parametrize("child, missing", [
    ("w/compute/cpu", "workspace 'w' not found"),
    ("w/data/d@1", "data container 'd' not found"),
    ("w/online-endpoint/ep/deployments/blue", "online endpoint 'ep' not found"),
])
def test_a_child_whose_parent_is_missing_fails_like_arm(tmp_path: Path, child: str, missing: str) -> None:
    g = small_graph().by_name()
    if child != "w/compute/cpu":
        create(tmp_path, g["workspace/w"])  # the workspace exists; the direct parent does not
    with pytest.raises(Exception, match="ResourceNotFound: " + missing):
        create(tmp_path, g[child])
    assert not any(d["name"] == child for d in local.Store(tmp_path / "state").documents())


def test_a_blob_needs_its_storage_container(tmp_path: Path) -> None:
    sa = Resource("sa", "azure-native:storage:StorageAccount", {"accountName": "st1", "resourceGroupName": RG,
                                                                 "kind": "StorageV2"}, "x")
    blob = Resource("blob", "azure-native:storage:Blob", {"accountName": "st1", "containerName": "c",
                                                          "blobName": "a/B.txt", "resourceGroupName": RG}, "x")
    create(tmp_path, sa)
    with pytest.raises(Exception, match="ResourceNotFound: storage container 'c' not found"):
        create(tmp_path, blob)
    create(tmp_path, Resource("c", "azure-native:storage:BlobContainer",
                              {"accountName": "st1", "containerName": "c", "resourceGroupName": RG}, "x"))
    result = create(tmp_path, blob)
    assert result.id.endswith("/containers/c/blobs/a/B.txt")
    assert local.Store(tmp_path / "state").path(result.id).name == "B.txt.json"  # blob names keep their case


def test_names_are_unique_in_their_scope(tmp_path: Path) -> None:
    g = small_graph().by_name()
    create(tmp_path, g["workspace/w"])
    create(tmp_path, g["w/compute/cpu"], name="first")
    with pytest.raises(Exception, match="Conflict: .*'cpu' already exists"):
        create(tmp_path, g["w/compute/cpu"], name="second")
    create(tmp_path, g["w/compute/cpu"], name="first")  # the same resource again: an upsert, as ARM's PUT


def test_traffic_to_a_deployment_that_does_not_exist_fails(tmp_path: Path) -> None:
    g = small_graph().by_name()
    for name in ("workspace/w", "w/online-endpoint/ep"):
        create(tmp_path, g[name])
    with pytest.raises(Exception, match="ResourceNotFound: deployment 'blue'"):
        create(tmp_path, g["w/online-endpoint/ep/traffic"])
    create(tmp_path, g["w/online-endpoint/ep/deployments/blue"])
    create(tmp_path, g["w/online-endpoint/ep/traffic"])
    endpoint = local.Store(tmp_path / "state").load(EP_ID)
    assert endpoint["properties"]["properties"]["traffic"] == {"blue": 100}


def test_diff_uses_the_replace_table_and_ignores_what_arm_computes(tmp_path: Path) -> None:
    g = small_graph().by_name()
    dep = g["w/online-endpoint/ep/deployments/blue"]
    sim = provider(tmp_path, dep.type)
    arm_id = EP_ID + "/deployments/blue"
    olds = {**copy_inputs(dep), "id": arm_id, "__provider": "old"}
    assert sim.diff(arm_id, olds, {**copy_inputs(dep), "__provider": "new"}).changes is False
    scaled = copy_inputs(dep)
    scaled["sku"]["capacity"] = 3
    d = sim.diff(arm_id, olds, scaled)
    assert d.changes is True and d.replaces == []
    resized = copy_inputs(dep)
    resized["properties"]["instanceType"] = "Standard_F4s_v2"
    d = sim.diff(arm_id, olds, resized)
    assert d.replaces == ["properties.instanceType"] and d.delete_before_replace is True
    # An endpoint's traffic is ARM's (EndpointTraffic's), not an input: no diff for it.
    ep = g["w/online-endpoint/ep"]
    old_ep = copy_inputs(ep)
    old_ep["properties"]["traffic"] = {"blue": 100}
    old_ep["identity"]["principalId"] = "p"
    assert provider(tmp_path, ep.type).diff(EP_ID, old_ep, copy_inputs(ep)).changes is False


def copy_inputs(r: Resource) -> dict:
    return json.loads(json.dumps(r.inputs))


def test_failure_injection_matches_an_arm_id_suffix(tmp_path: Path, monkeypatch) -> None:
    g = small_graph().by_name()
    create(tmp_path, g["workspace/w"])
    monkeypatch.setenv(local.FAIL_ENV, "other, computes/cpu")
    with pytest.raises(Exception, match="simulated failure"):
        create(tmp_path, g["w/compute/cpu"])
    assert local.Store(tmp_path / "state").load(WS_ID + "/computes/cpu") is None


def test_an_interrupted_write_leaves_the_previous_document_whole(tmp_path: Path, monkeypatch) -> None:
    store = local.Store(tmp_path)
    store.write({"id": WS_ID, "properties": {"v": 1}})

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.write({"id": WS_ID, "properties": {"v": 2}})
    monkeypatch.undo()
    assert store.load(WS_ID)["properties"] == {"v": 1}
    assert [p.name for p in store.path(WS_ID).parent.iterdir()] == ["w.json"]


def test_every_graph_input_name_survives_the_trip_through_python_kwargs() -> None:
    from controller.program import snake
    from controller.revisions import render_stack
    names = {k for stack in ("dev", "prod") for r in render_stack(REPO, stack, commits={}).graph.resources
             for k in r.inputs}
    assert {k for k in names if local.wire(snake(k)) != k} == set()
    assert local.wire("resource_name_") == "resourceName"
