"""What `drift` makes of the engine's refresh-preview events, provider by provider: the local target's
dynamic providers report no diff of their own (amlctl compares state with inputs), azure-native
reports one (and is the authority on what differs). The end-to-end drift tests run the real engine
in tests/test_controller.py."""
from __future__ import annotations

from pulumi.automation import events as ev

from controller.engine.drift import _refresh_preview
from controller.render.graph import Graph, Resource

COMPUTE = "azure-native:machinelearningservices:Compute"
NAME = "ws/compute/cpu"
WANTED = {"computeName": "cpu", "location": "westeurope",
          "properties": {"properties": {"scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0}}}}
GRAPH = Graph("dev", (Resource(NAME, COMPUTE, WANTED, "Compute/cpu"),))


class Stack:
    """Stands in for an Automation API stack: its preview plays the given step events."""

    def __init__(self, *metas: ev.StepEventMetadata):
        self.metas = metas

    def preview(self, on_event, **kw):
        for i, m in enumerate(self.metas):
            on_event(ev.EngineEvent(sequence=i, timestamp=0, resource_pre_event=ev.ResourcePreEvent(m)))


def step(type_: str, outputs: dict, **diff) -> ev.StepEventMetadata:
    urn = f"urn:pulumi:dev::estate::{type_}::{NAME}"
    state = lambda **kw: ev.StepEventStateMetadata(type=type_, urn=urn, id="id", parent="", provider="", **kw)
    return ev.StepEventMetadata(op=ev.OpType.UPDATE, urn=urn, type=type_, provider="",
                                old=state(outputs=outputs), new=state(inputs=WANTED), **diff)


def test_without_a_provider_diff_the_state_is_compared_with_the_inputs():
    cloud = {**WANTED, "properties": {"properties": {"scaleSettings": {"maxNodeCount": 40, "minNodeCount": 0}}}}
    (d,) = _refresh_preview(Stack(step("pulumi-python:dynamic/local/" + COMPUTE, cloud)), GRAPH)
    assert (d.name, d.type, d.subject) == (NAME, COMPUTE, "Compute/cpu")
    assert d.properties == ("properties.properties.scaleSettings.maxNodeCount",)
    assert [(c.before, c.after) for c in d.changes] == [(40, 4)]


def test_a_provider_diff_is_the_authority_on_what_differs():
    # Azure says the location its own way and holds 40 nodes; the provider reports only the nodes.
    cloud = {**WANTED, "location": "West Europe",
             "properties": {"properties": {"scaleSettings": {"maxNodeCount": 40, "minNodeCount": 0}}}}
    (d,) = _refresh_preview(Stack(step(COMPUTE, cloud, diffs=["properties"])), GRAPH)
    assert d.properties == ("properties.properties.scaleSettings.maxNodeCount",)  # "properties", in detail
    assert [(c.path, c.before, c.after) for c in d.changes] == [
        ("properties.properties.scaleSettings.maxNodeCount", 40, 4)]  # no "location" from Azure's spelling
