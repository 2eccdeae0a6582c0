"""The rollout stage: the render, in the manifests' deployment names, becomes the graph the engine
is given, in Azure's, with each endpoint's releases where its record and the clock put them.

    overlay(graph, applied, now, health, decisions, advance) -> Rolled(graph, reports, retired)

For each endpoint with a traffic step, `decide` says which deployments exist (a release keeps the
old deployment beside the new one, frozen as it is: every input but its names is ignored, so the
engine leaves it untouched whatever the manifest now says), what the traffic step sets, and the
record the step carries into the stack's state. References to a deployment's node follow it to its
new name. `retired` names the deployments a release leaves behind: the engine deletes them after
the traffic step, and apply does not count them as deletes that need --allow-delete.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from controller.plan.immutable import forces_replace
from controller.render.graph import Graph, Resource
from controller.rollout import decide as D
from controller.rollout.policy import Policy
from controller.rollout.record import POLICY_KEY, STATE_KEY, Applied

TRAFFIC = "amlctl:azureml:EndpointTraffic"
ML = "azure-native:machinelearningservices:"
DEPLOYMENTS = (ML + "OnlineDeployment", ML + "BatchDeployment")
NAMES = ("resourceGroupName", "workspaceName", "endpointName", "deploymentName")
# What a release leaves out of "did the deployment change": scale, and what Azure changes in place
# without touching the running containers.
NOT_A_RELEASE = ("tags", "properties.description", "sku.capacity", "properties.scaleSettings")
PRT = "PRT_CONFIG_OVERRIDE"


@dataclass(frozen=True)
class Report:
    endpoint: str  # OnlineEndpoint/credit-endpoint
    node: str  # its traffic step
    event: str  # decide's: started, advanced, waiting, completed, rolled back, aborted, held, restarted, ""
    message: str
    failed: bool
    record: Mapping[str, Any]
    traffic: Mapping[str, int]
    mirror: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "event": self.event, "message": self.message, "failed": self.failed,
                "traffic": dict(self.traffic), "mirrorTraffic": dict(self.mirror), "record": dict(self.record)}


@dataclass(frozen=True)
class Rolled:
    graph: Graph
    reports: tuple[Report, ...] = ()
    retired: frozenset[str] = frozenset()  # graph names of the deployments releases leave behind

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.reports)

    @property
    def in_progress(self) -> bool:
        return any(r.record.get("release") for r in self.reports)


def digests(r: Resource) -> dict[str, str]:
    """What a deployment renders to, as two digests: the inputs Azure cannot change in place, and
    every input a release is about."""
    leaves = sorted(_leaves(r.inputs))
    forced = [(p, v) for p, v in leaves if p.split(".", 1)[0] not in NAMES and forces_replace(r.type, p)]
    release = [(p, v) for p, v in leaves if p.split(".", 1)[0] not in NAMES
               and not any(p == x or p.startswith(x + ".") for x in NOT_A_RELEASE)]
    return {"replace": _sha(forced), "release": _sha(release)}


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _leaves(value: Any, path: str = ""):
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    else:
        yield path, value


def endpoints(graph: Graph) -> list[tuple[Resource, dict[str, Resource]]]:
    """Each endpoint's traffic step, with its deployments by manifest name."""
    out = []
    by_name = graph.by_name()
    for r in graph.resources:
        if r.type != TRAFFIC:
            continue
        ep = r.name[: -len("/traffic")]
        deployments = {str(d.inputs.get("deploymentName")): d for n, d in by_name.items()
                       if d.type in DEPLOYMENTS and n.startswith(ep + "/deployments/")}
        out.append((r, deployments))
    return out


def overlay(graph: Graph, applied: Mapping[str, Applied], now: dt.datetime,
            health: Callable[[Resource], D.HealthOf | None] | None = None,
            decisions: Mapping[str, str] | None = None, advance: bool = True) -> Rolled:
    decisions = decisions or {}
    by_name = graph.by_name()
    reports: list[Report] = []
    retired: set[str] = set()
    renamed: dict[str, list[str]] = {}  # a rendered deployment node -> the nodes it becomes
    for step, deployments in endpoints(graph):
        ep_node = step.name[: -len("/traffic")]
        subject = by_name[ep_node].subject if ep_node in by_name else step.subject
        inputs = step.inputs
        endpoint = D.Endpoint(step.name, subject, str(inputs.get("kind", "online")),
                              Policy.from_input(inputs.get(POLICY_KEY)),
                              {d: digests(r) for d, r in deployments.items()},
                              dict(inputs.get("traffic") or {}), dict(inputs.get("mirrorTraffic") or {}),
                              inputs.get("defaultDeployment"))
        decision = D.decide(endpoint, applied.get(step.name, Applied()), now,
                            health(step) if health is not None else None,
                            decisions.get(ep_node, decisions.get("*")), advance)
        for d, r in deployments.items():
            del by_name[r.name]
            made = []
            for azure_name, frozen in decision.nodes[d]:
                node = _deployment(r, ep_node, d, azure_name, frozen)
                by_name[node.name] = node
                made.append(node.name)
            renamed[r.name] = made
        retired |= {f"{ep_node}/deployments/{n}" for n in decision.retired}
        by_name[step.name] = _traffic(step, ep_node, decision)
        reports.append(Report(subject, step.name, decision.event, decision.message, decision.failed,
                              decision.record.to_dict(), decision.traffic, decision.mirror))
    if not renamed:
        return Rolled(graph, tuple(reports), frozenset(retired))
    resources = [_follow(r, renamed) for r in by_name.values()]
    return Rolled(Graph(graph.stack, tuple(resources), graph.settings), tuple(reports),
                  frozenset(retired - set(by_name)))


def _deployment(r: Resource, ep_node: str, manifest: str, azure_name: str, frozen: bool) -> Resource:
    inputs = dict(r.inputs)
    inputs["deploymentName"] = azure_name
    if azure_name != manifest:
        inputs["properties"] = _prompt_flow_name(inputs.get("properties"), manifest, azure_name)
    label = r.label
    if frozen:
        label = f"{r.label}, as deployed before (a release or a failed one keeps it unchanged)"
    elif azure_name != manifest:
        label = f"{r.label}, deployed as {azure_name}"
    ignore = tuple(sorted(k for k in inputs if k not in NAMES)) if frozen else r.ignore_changes
    return replace(r, name=f"{ep_node}/deployments/{azure_name}", inputs=inputs, ignore_changes=ignore, label=label)


def _prompt_flow_name(properties: Any, manifest: str, azure_name: str) -> Any:
    """A prompt flow deployment's runtime settings name the deployment (controller.render.kinds.
    endpoints generates them): a new deployment of a release is named by Azure's name."""
    if not isinstance(properties, Mapping):
        return properties
    env = properties.get("environmentVariables")
    if not isinstance(env, Mapping) or not isinstance(env.get(PRT), str):
        return properties
    parts = [f"deployment.deployment_name={azure_name}" if p.strip() == f"deployment.deployment_name={manifest}"
             else p for p in env[PRT].split(",")]
    return {**properties, "environmentVariables": {**env, PRT: ",".join(parts)}}


def _traffic(step: Resource, ep_node: str, decision: D.Decision) -> Resource:
    inputs = {k: v for k, v in step.inputs.items() if k not in ("traffic", "mirrorTraffic", "defaultDeployment")}
    if step.inputs.get("kind") == "batch":
        if decision.default:
            inputs["defaultDeployment"] = decision.default
    else:
        inputs["traffic"] = dict(sorted(decision.traffic.items()))
        if "mirrorTraffic" in step.inputs or decision.mirror:
            inputs["mirrorTraffic"] = dict(sorted(decision.mirror.items()))
    inputs[STATE_KEY] = decision.record.to_dict()
    named = set(decision.traffic) | set(decision.mirror) | ({decision.default} if decision.default else set())
    deps = [d for d in step.depends_on if not d.startswith(ep_node + "/deployments/")]
    deps += [f"{ep_node}/deployments/{n}" for n in sorted(named)]
    return replace(step, inputs=inputs, depends_on=tuple(sorted(set(deps))))


def _follow(r: Resource, renamed: Mapping[str, list[str]]) -> Resource:
    """Dependencies on, and outputs of, a deployment node follow it to what it became (its newest)."""
    deps = []
    for d in r.depends_on:
        deps += renamed.get(d, [d])
    inputs = _markers(r.inputs, renamed)
    if tuple(deps) == r.depends_on and inputs is r.inputs:
        return r
    return replace(r, depends_on=tuple(sorted(set(deps))), inputs=inputs)


def _markers(value: Any, renamed: Mapping[str, list[str]]) -> Any:
    if isinstance(value, Mapping):
        out = value
        if set(value) == {"$output"} and isinstance(value["$output"], Mapping) and \
                value["$output"].get("resource") in renamed:
            return {"$output": {**value["$output"], "resource": renamed[value["$output"]["resource"]][-1]}}
        changed = {k: _markers(v, renamed) for k, v in value.items()}
        if any(changed[k] is not value[k] for k in value):
            out = changed
        return out
    if isinstance(value, list):
        items = [_markers(v, renamed) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    return value
