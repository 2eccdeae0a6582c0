"""The run stage: what depends on a run's output waits until the run has completed.

    read(graph, reader) -> {run: Outcome}        what the target says of each run a marker names
    settle(graph, outcomes, applied) -> Settled  the graph the engine gets, and what waits

A fine-tuning run takes hours, longer than any CI job should block. A serverless endpoint or a
deployment that serves the model a run registers (controller.render.kinds.run_outputs) therefore
never waits inside an update: before the engine starts, each `$runOutput` marker becomes the
model's id if its run has completed; otherwise the resource waits. A waiting resource keeps what
the last apply gave it (an endpoint goes on serving the previous fine-tuned model) or, new, is left
out of this update, and so is whatever depends on it; a later apply (a scheduled CI run, or the
next merge) moves it on once the run is done. Pure: the outcomes come in, a graph comes out.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from controller.render.graph import Graph, Resource, markers
from controller.render.kinds.run_outputs import MARKER
from controller.render.kinds.run_outputs import markers as run_markers

COMPLETED = "Completed"
NOT_STARTED = "NotStarted"  # the run does not exist yet: this very apply creates it
FAILED = ("Failed", "Canceled", "NotResponding")


@dataclass(frozen=True)
class Outcome:
    status: str  # Azure ML's job status, or NOT_STARTED
    version: str | None = None  # of the model the run registered, once it has completed
    workspace_id: str | None = None  # the workspace's GUID, for azureml://locations/... model URIs


@dataclass(frozen=True)
class Waiting:
    resource: str
    run: str
    status: str
    kept: bool  # the last applied version stays as it is (else: not created until the run completes)
    reason: str = ""  # set when it waits on another waiting resource, not a run

    def describe(self) -> str:
        what = ("keeps what the last apply gave it until then" if self.kept else
                "is created by the first apply after that")
        run = self.run.rsplit("/", 1)[-1]
        if self.reason:
            return f"{self.resource} waits for {self.reason}, which waits for run {run}, and {what}"
        if self.status in FAILED:
            return (f"{self.resource} waits for run {run}, which ended {self.status}: fix the job (a changed job "
                    f"is a new run); {self.resource} " + ("keeps what the last apply gave it" if self.kept else
                                                          "is not created"))
        state = "not started yet: this apply starts it" if self.status == NOT_STARTED else self.status
        return f"{self.resource} waits for run {run} ({state}) to complete, and {what}"


@dataclass(frozen=True)
class Settled:
    graph: Graph
    waiting: tuple[Waiting, ...] = ()


def runs_of(graph: Graph) -> dict[str, dict[str, Any]]:
    """{run graph name: a marker body naming it} for every run a marker names."""
    out: dict[str, dict[str, Any]] = {}
    for r in graph.resources:
        for body in run_markers(r.inputs):
            out.setdefault(body["run"], body)
    return out


def read(graph: Graph, reader: Callable[[Resource, Mapping[str, Any]], Outcome]) -> dict[str, Outcome]:
    """Ask the target about each run a marker names (`reader(run resource, marker body)`)."""
    by_name = graph.by_name()
    return {run: reader(by_name[run], body) for run, body in sorted(runs_of(graph).items()) if run in by_name}


def model_value(body: Mapping[str, Any], outcome: Outcome, graph: Graph) -> str:
    """The id a completed run's model goes by, in the form the marker asks for."""
    ws, asset, version = body["workspace"], body["asset"], outcome.version
    if body.get("form") == "uri":
        location = _workspace_location(graph, ws)
        return f"azureml://locations/{location}/workspaces/{outcome.workspace_id}/models/{asset}/versions/{version}"
    s = graph.settings
    return (f"/subscriptions/{s.get('subscriptionId')}/resourceGroups/{s.get('resourceGroup')}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{ws}/models/{asset}/versions/{version}")


def _workspace_location(graph: Graph, workspace: str) -> str:
    for r in graph.resources:
        if r.type.endswith(":Workspace") and r.inputs.get("workspaceName") == workspace and r.inputs.get("location"):
            return str(r.inputs["location"]).replace(" ", "").lower()
    return str(graph.settings.get("location", "")).replace(" ", "").lower()


def settle(graph: Graph, outcomes: Mapping[str, Outcome], applied: Graph | None) -> Settled:
    applied_by = applied.by_name() if applied else {}
    out: dict[str, Resource] = {}
    waiting: dict[str, Waiting] = {}
    for r in graph.resources:
        bodies = run_markers(r.inputs)
        pending = [b for b in bodies if outcomes.get(b["run"], Outcome(NOT_STARTED)).status != COMPLETED]
        if pending:
            first = pending[0]["run"]
            waiting[r.name] = Waiting(r.name, first, outcomes.get(first, Outcome(NOT_STARTED)).status,
                                      r.name in applied_by)
        elif bodies:
            r = replace(r, inputs=_resolved(r.inputs, outcomes, graph))
        out[r.name] = r
    _spread(out, waiting, applied_by)
    resources = []
    for name, r in out.items():
        if name in waiting:
            if name in applied_by:
                resources.append(applied_by[name])  # as last applied: nothing changes until the run is done
            continue  # not created yet
        resources.append(r)
    return Settled(Graph(graph.stack, tuple(resources), graph.settings),
                   tuple(sorted(waiting.values(), key=lambda w: w.resource)))


def _spread(resources: Mapping[str, Resource], waiting: dict[str, Waiting], applied: Mapping[str, Resource]) -> None:
    """What depends on a resource that is left out waits too (a traffic step naming a deployment
    not created yet); what depends on one kept as last applied is unaffected."""
    changed = True
    while changed:
        changed = False
        absent = {n for n, w in waiting.items() if not w.kept}
        for name, r in resources.items():
            if name in waiting:
                continue
            needs = set(r.depends_on) | {b["resource"] for _, kind, b in markers(r.inputs) if kind == "$output"}
            hit = sorted(needs & absent)
            if hit:
                w = waiting[hit[0]]
                waiting[name] = Waiting(name, w.run, w.status, name in applied, reason=hit[0])
                changed = True


def _resolved(value: Any, outcomes: Mapping[str, Outcome], graph: Graph) -> Any:
    if isinstance(value, dict):
        if set(value) == {MARKER}:
            body = value[MARKER]
            return model_value(body, outcomes[body["run"]], graph)
        return {k: _resolved(v, outcomes, graph) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, outcomes, graph) for v in value]
    return value
