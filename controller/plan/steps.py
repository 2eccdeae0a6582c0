"""A Plan from the Pulumi engine's preview steps, so `amlctl preview` speaks like `amlctl plan`.

    engine steps (op, name, type, old inputs, new inputs) + the rendered graph -> Plan

`plan` diffs two rendered graphs offline; a preview asks the engine, whose state is the truth
about what was applied. The engine decides the action (its provider knows what replaces); the
graph supplies what the engine does not know: the manifest line and the Azure ML label.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from controller.plan import (CREATE, DELETE, KEEP, ORDER, REPLACE, UPDATE, Change, Plan, _changed, _created, _deleted,
                             _roles)
from controller.render.graph import Graph, Resource

# Engine step ops (pulumi.automation.events.OpType values) -> plan actions. A replacement shows
# up as several steps (create-replacement, replace, delete-replaced): one change in the plan.
ACTIONS = {
    "create": CREATE, "import": CREATE,
    "update": UPDATE,
    "replace": REPLACE, "create-replacement": REPLACE, "delete-replaced": REPLACE,
    "import-replacement": REPLACE,
    "delete": DELETE, "discard": KEEP,  # discard: a retain-on-delete resource, forgotten, kept in Azure
}


@dataclass(frozen=True)
class Step:
    op: str  # the engine's op
    name: str  # the resource's Pulumi (graph) name
    type: str  # the graph's type token when known, else the engine's
    old: Mapping[str, Any] | None = None  # inputs in the engine's state
    new: Mapping[str, Any] | None = None  # inputs the program registers


def _inputs(values: Mapping[str, Any] | None) -> dict[str, Any]:
    # Dynamic providers carry their own pickled provider as `__provider`: plumbing, not a property.
    return {k: v for k, v in (values or {}).items() if not k.startswith("__")}


def from_steps(stack: str, graph: Graph, steps: list[Step], before: Graph | None = None) -> Plan:
    """`before` (the last applied graph, when known) gives deleted resources their manifest line."""
    plan = Plan(stack, "engine state", "working tree")
    head = graph.by_name()
    old_graph = before.by_name() if before else {}
    seen: dict[str, Change] = {}
    for step in steps:
        action = ACTIONS.get(step.op)
        if action is None or step.name in seen:
            continue
        seen[step.name] = _change(step, action, head.get(step.name), old_graph.get(step.name), plan)
    plan.changes = sorted(seen.values(), key=lambda c: (ORDER[c.action], c.name))
    plan.unchanged = sum(1 for name in head if name not in seen)
    # Grants are the role assignments the engine creates, revokes those it deletes.
    was = {n: r for n, r in head.items() if n not in seen or seen[n].action != CREATE}
    was |= {n: old_graph[n] for n, c in seen.items() if c.action in (DELETE, KEEP) and n in old_graph}
    plan.roles = _roles(was, head)
    return plan


def _change(step: Step, action: str, new: Resource | None, old: Resource | None, plan: Plan) -> Change:
    if action == CREATE:
        if new is None:
            return Change(CREATE, step.name, step.type, "", "", step.op)
        change = _created(dataclasses.replace(new, inputs=_inputs(step.new) or new.inputs))
        return change if step.op == "create" else dataclasses.replace(change, label="import (adopt what exists)")
    if action in (DELETE, KEEP):
        if old is None:
            return Change(action, step.name, step.type, "", "",
                          "kept in Azure (retain on delete)" if action == KEEP else "delete")
        change = _deleted(old)
        if change.action != action:  # the engine's state has the last word on what it deletes
            change = dataclasses.replace(change, action=action, label="kept in Azure (retain on delete)"
                                         if action == KEEP else "delete")
        return change
    if new is None:  # an update of something the graph no longer has cannot happen; be plain
        return Change(action, step.name, step.type, "", "", action)
    was = dataclasses.replace(new, inputs=_inputs(step.old))
    now = dataclasses.replace(new, inputs=_inputs(step.new) or new.inputs)
    change = _changed(was, now, plan) or Change(action, new.name, new.type, new.subject, str(new.source or ""),
                                                "options only (no change in Azure)", (), new.protect, new.label)
    if change.action != action:  # the engine's provider has the last word on what replaces
        label = "destructive replace (the provider cannot change this in place)" if action == REPLACE else \
            "in-place update"
        change = dataclasses.replace(change, action=action, label=label)
    return change
