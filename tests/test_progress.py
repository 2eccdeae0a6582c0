"""Per-resource progress (controller.cli.progress) and the plan built from engine steps
(controller.plan.steps), fed with the Automation API's own event and step types."""
from __future__ import annotations

import io

from pulumi.automation import events as ev

from controller.cli.progress import Progress, describe
from controller.plan import CREATE, REPLACE, UPDATE
from controller.plan.steps import Step, from_steps
from controller.render.graph import Graph, Resource

URN = "urn:pulumi:local::estate::pulumi-python:dynamic/local/azure-native/machinelearningservices:Compute::"


def _meta(op: ev.OpType, name: str) -> ev.StepEventMetadata:
    return ev.StepEventMetadata(op=op, urn=URN + name, type="azure-native:machinelearningservices:Compute",
                                provider="")


def _event(seq: int, **kind) -> ev.EngineEvent:
    return ev.EngineEvent(sequence=seq, timestamp=0, **kind)


def test_plain_progress_prints_one_line_per_finished_operation_and_errors_on_stderr(capsys):
    p = Progress(live=False)
    with p:
        p.event(_event(1, resource_pre_event=ev.ResourcePreEvent(_meta(ev.OpType.CREATE, "ws/compute/cpu"))))
        p.event(_event(2, resource_pre_event=ev.ResourcePreEvent(_meta(ev.OpType.UPDATE, "ws/compute/gpu"))))
        p.event(_event(3, res_outputs_event=ev.ResOutputsEvent(_meta(ev.OpType.CREATE, "ws/compute/cpu"))))
        p.event(_event(4, res_op_failed_event=ev.ResOpFailedEvent(_meta(ev.OpType.UPDATE, "ws/compute/gpu"), 1, 1)))
        p.event(_event(5, diagnostic_event=ev.DiagnosticEvent("quota exceeded\n", "never", "error",
                                                              urn=URN + "ws/compute/gpu")))
        p.event(_event(6, resource_pre_event=ev.ResourcePreEvent(_meta(ev.OpType.SAME, "ws/compute/ci"))))
    out, err = capsys.readouterr()
    assert out.splitlines() == [" +  created    ws/compute/cpu  (machinelearningservices:Compute, 0.0s)"]
    assert " !  failed     ws/compute/gpu  (machinelearningservices:Compute, update)" in err
    assert "    error: ws/compute/gpu: quota exceeded" in err
    assert "\x1b" not in out + err  # plain: no control characters in CI logs


def test_live_progress_shows_what_is_in_flight_and_prints_finished_lines_above():
    from rich.console import Console
    screen = Console(file=io.StringIO(), width=120, force_terminal=True)  # a terminal of our own
    with Progress(live=True, console=screen) as p:
        p.event(_event(1, resource_pre_event=ev.ResourcePreEvent(_meta(ev.OpType.CREATE, "ws/compute/cpu"))))
        p.event(_event(2, resource_pre_event=ev.ResourcePreEvent(_meta(ev.OpType.CREATE, "ws/compute/gpu"))))
        # A finished line is printed while the live view shows what is still in flight.
        p.event(_event(3, res_outputs_event=ev.ResOutputsEvent(_meta(ev.OpType.CREATE, "ws/compute/cpu"))))
    shown = screen.file.getvalue()
    assert "creating" in shown and "ws/compute/gpu" in shown and "created    ws/compute/cpu" in shown
    assert "[yellow]" not in shown  # styles render as styles, never as literal markup


def test_describe_summarises_like_the_engine():
    assert describe({"create": 56}) == "+ 56 created"
    assert describe({"update": 3, "delete": 1, "replace": 2}) == "~ 3 updated, +- 2 replaced, - 1 deleted"
    assert describe({}) == "no changes"


def _graph(*resources: Resource) -> Graph:
    return Graph(stack="s", resources=tuple(resources), settings={})


COMPUTE = "azure-native:machinelearningservices:Compute"
DEPLOY = "azure-native:machinelearningservices:OnlineDeployment"


def test_a_plan_from_engine_steps_takes_the_engines_action_and_the_graphs_labels():
    cpu = Resource(name="ws/compute/cpu", type=COMPUTE, inputs={"properties": {"scaleSettings": {"max": 6}}},
                   subject="Compute/cpu")
    blue = Resource(name="ws/online-endpoint/e/deployments/blue", type=DEPLOY,
                    inputs={"properties": {"instanceType": "Standard_DS4_v2"}}, subject="OnlineDeployment/blue")
    new = Resource(name="ws/compute/new", type=COMPUTE, inputs={"computeName": "new"}, subject="Compute/new")
    steps = [
        Step("update", cpu.name, COMPUTE, {"__provider": "x", "properties": {"scaleSettings": {"max": 4}}},
             {"__provider": "x", "properties": {"scaleSettings": {"max": 6}}}),
        Step("create-replacement", blue.name, DEPLOY, {"properties": {"instanceType": "Standard_DS3_v2"}},
             {"properties": {"instanceType": "Standard_DS4_v2"}}),
        Step("replace", blue.name, DEPLOY), Step("delete-replaced", blue.name, DEPLOY),
        Step("create", new.name, COMPUTE, None, {"computeName": "new"}),
        Step("delete", "ws/compute/gone", COMPUTE, {"computeName": "gone"}, None),
    ]
    plan = from_steps("s", _graph(cpu, blue, new), steps)
    by = {c.name: c for c in plan.changes}
    assert by[cpu.name].action == UPDATE
    assert [(p.path, p.before, p.after) for p in by[cpu.name].properties] == [("properties.scaleSettings.max", 4, 6)]
    assert by[blue.name].action == REPLACE and "new deployment plus traffic shift" in by[blue.name].label
    assert by[new.name].action == CREATE
    assert by["ws/compute/gone"].action == "delete"
    assert len(plan.changes) == 4 and plan.unchanged == 0
    assert all("__provider" not in p.path for c in plan.changes for p in c.properties)


def test_types_are_shown_as_plan_shows_them_whatever_the_target():
    from controller.render.graph import type_name
    # Application Insights and Azure ML both have a "Component"; the module tells them apart.
    assert type_name("azure-native:applicationinsights:Component") == "applicationinsights:Component"
    assert type_name("pulumi-python:dynamic/local/azure-native/machinelearningservices:Component") \
        == "machinelearningservices:Component"
    assert type_name("amlctl:azureml:EndpointTraffic") == "azureml:EndpointTraffic"
