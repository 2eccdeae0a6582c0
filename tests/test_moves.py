"""A compute instance that an earlier amlctl applied as a typed Compute and that now renders as the
generic resource (controller/render/kinds/compute.py) is the same Azure resource: plan says update,
the engine moves it in the state and updates it in place, never deletes it."""
from __future__ import annotations

from pathlib import Path

from controller import plan as P
from controller.engine import moves
from controller.render.graph import Graph, Resource
from test_local_target import ML, RG, SUB, Target, needs_engine

GENERIC = "azure-native:resources:Resource"


def graphs(root_access: bool | None = None) -> tuple[Graph, Graph]:
    """The stack as an earlier amlctl rendered it (typed), and as amlctl renders it now."""
    ws = Resource("workspace/w", ML + "Workspace", {"resourceGroupName": RG, "workspaceName": "w",
                                                    "location": "westeurope", "kind": "default"}, "Workspace/w")
    body = {"computeType": "ComputeInstance", "properties": {"vmSize": "Standard_DS3_v2"}}
    old = Resource("w/compute/ci", ML + "Compute", {"resourceGroupName": RG, "workspaceName": "w", "computeName": "ci",
                                                    "location": "westeurope", "properties": body},
                   "Compute/ci", depends_on=(ws.name,))
    new_body = {"computeType": "ComputeInstance", "properties": {
        "vmSize": "Standard_DS3_v2", **({} if root_access is None else {"enableRootAccess": root_access})}}
    new = Resource("w/compute/ci", GENERIC, {
        "resourceGroupName": RG, "resourceProviderNamespace": "Microsoft.MachineLearningServices",
        "parentResourcePath": "workspaces/w", "resourceType": "computes", "resourceName": "ci",
        "apiVersion": "2025-01-01-preview", "location": "westeurope", "properties": new_body},
        "Compute/ci", depends_on=(ws.name,), moved_from=(ML + "Compute",))
    settings = {"subscriptionId": SUB, "resourceGroup": RG}
    return Graph("sim", (ws, old), settings), Graph("sim", (ws, new), settings)


def test_plan_calls_the_move_an_update_of_its_body_not_a_replace() -> None:
    before, after = graphs(root_access=False)
    change, = P.diff(before, after).changes
    assert change.action == P.UPDATE, change
    assert [p.path for p in change.properties] == ["properties.properties.enableRootAccess"]
    assert "same Azure resource" in change.label
    assert P.needs_allow_delete(P.diff(before, after)) == []
    # Nothing but the type: an update of the state alone.
    before, after = graphs()
    change, = P.diff(before, after).changes
    assert change.action == P.UPDATE and change.properties == () and "no change in Azure" in change.label


def test_the_state_rewrite_moves_the_urn_every_reference_and_the_inputs_shape() -> None:
    _, after = graphs(root_access=False)
    stack = "urn:pulumi:sim::p::"
    old_urn = stack + "pulumi-python:dynamic/local/azure-native/machinelearningservices:Compute::w/compute/ci"
    deployment = {"resources": [
        {"urn": old_urn, "type": "pulumi-python:dynamic/local/azure-native/machinelearningservices:Compute",
         "inputs": {"__provider": "pickled", "resourceGroupName": RG, "workspaceName": "w", "computeName": "ci",
                    "location": "westeurope", "properties": {"computeType": "ComputeInstance"}},
         "outputs": {"id": "x"}},
        {"urn": stack + "t::other", "type": "t", "dependencies": [old_urn], "propertyDependencies": {"a": [old_urn]}},
    ]}
    found = moves.plan(deployment, after)
    assert found == [moves.Move("w/compute/ci", deployment["resources"][0]["type"],
                                "pulumi-python:dynamic/local/azure-native/resources:Resource")]
    moved = moves.rewrite(deployment, after, found)
    ci, other = moved["resources"]
    new_urn = stack + "pulumi-python:dynamic/local/azure-native/resources:Resource::w/compute/ci"
    assert ci["urn"] == new_urn and other["dependencies"] == [new_urn] and other["propertyDependencies"] == {"a": [new_urn]}
    # The address is the new resource's, the body the old one's (what changes in it is the update).
    assert "computeName" not in ci["inputs"] and ci["inputs"]["resourceName"] == "ci"
    assert ci["inputs"]["properties"] == {"computeType": "ComputeInstance"} and ci["inputs"]["__provider"] == "pickled"
    assert moves.plan(moved, after) == []  # done once


@needs_engine
def test_an_instance_applied_typed_is_updated_in_place_after_the_move(tmp_path: Path) -> None:
    before, after = graphs(root_access=False)
    target = Target(tmp_path, before)
    target.up()
    created = target.doc("w/compute/ci")

    class Said:
        notices: list[str] = []

        def notice(self, message: str) -> None:
            self.notices.append(message)

    target.graph = after
    assert len(moves.apply(target.stack, after, Said())) == 1 and "never deleted" in Said.notices[0]
    result = target.up()
    assert result.summary.resource_changes == {"update": 1, "same": 2}, result.summary.resource_changes
    doc = target.doc("w/compute/ci")
    assert doc["id"] == created["id"] and doc["properties"]["properties"]["properties"]["enableRootAccess"] is False
    assert not [op for op in target.ops() if op.get("op") == "delete"]
    assert target.up().summary.resource_changes == {"same": 3}
