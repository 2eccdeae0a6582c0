"""`plan`: the difference between two resource graphs, in Azure ML's terms.

    diff(base graph, head graph) -> Plan (per resource: create, update, replace or delete; the
    property-level changes; an Azure-ML-aware label; the role assignments gained and lost)

Pure: two graphs in, a Plan out. Reading the graphs from git revisions is controller.revisions.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from controller import rbac
from controller.diagnostics import Diagnostic, Severity
from controller.plan import archive, firetimes, moves
from controller.plan.immutable import VERSIONED_TYPES, forces_replace
from controller.render.graph import Graph, Resource, canonical, type_name

ML = "azure-native:machinelearningservices:"

CREATE, UPDATE, REPLACE, DELETE = "create", "update", "replace", "delete"
# A resource that leaves the graph but stays in Azure (retain on delete: asset versions, their
# uploads, past runs): Pulumi forgets it, Azure keeps it. Not a delete: it needs no --allow-delete
# and protection has nothing to stop.
KEEP = "keep"
ORDER = {CREATE: 0, UPDATE: 1, REPLACE: 2, DELETE: 3, KEEP: 4}


@dataclass(frozen=True)
class PropertyChange:
    path: str  # dotted input path
    before: Any  # _ABSENT-free: None when the property is new
    after: Any  # None when the property is removed
    forces_replace: bool
    source: str = ""  # file:line:col that set it (a stack file when an overlay did); "" if not known


@dataclass(frozen=True)
class Change:
    action: str
    name: str
    type: str
    subject: str
    source: str  # manifest file:line:col (the head's, or the base's for a delete)
    label: str  # what the change means in Azure ML terms
    properties: tuple[PropertyChange, ...] = ()
    protected: bool = False  # the resource is protected (a delete or replace of it is refused by apply)
    description: str = ""  # the resource's own label ("workspace mlw-credit")
    # A deployment that takes traffic, released beside the one serving (controller.rollout): its
    # replace deletes nothing that serves, so it needs no --allow-delete.
    release: bool = False
    # A created or changed schedule's next fire times (a compute instance has one per start/stop).
    fire_times: tuple[firetimes.FireTimes, ...] = ()

    @property
    def type_name(self) -> str:
        return type_name(self.type)


@dataclass(frozen=True)
class RoleChange:
    action: str  # "grant" or "revoke"
    role: str
    principal: str
    scope: str
    source: str


@dataclass
class Plan:
    stack: str
    base: str  # revision description
    head: str
    changes: list[Change] = field(default_factory=list)
    roles: list[RoleChange] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unchanged: int = 0
    rollouts: list[str] = field(default_factory=list)  # where each endpoint's release stands (controller.rollout)
    # What fire times count from (ISO 8601), and why that moment: given, $AMLCTL_PLAN_NOW or the clock.
    fire_times_from: str = ""
    fire_times_basis: str = ""

    def count(self, action: str) -> int:
        return sum(c.action == action for c in self.changes)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    def summary(self) -> str:
        return (f"Plan: {self.count(CREATE)} to create, {self.count(UPDATE)} to update, "
                f"{self.count(REPLACE)} to replace, {self.count(DELETE)} to delete"
                + (f", {self.count(KEEP)} kept in Azure" if self.count(KEEP) else "")
                + (f" ({self.unchanged} unchanged)" if self.unchanged else ""))


# -- what apply does with a plan: one rule, asked by `plan` (to say so and exit 1) and by apply -----
def refused(plan: Plan) -> list[Change]:
    """The changes apply refuses whatever its flags: deleting or replacing a protected resource."""
    return [c for c in plan.changes if c.protected and c.action in (DELETE, REPLACE)]


def needs_allow_delete(plan: Plan) -> list[Change]:
    """The changes apply makes only with --allow-delete: every delete and replace (a resource kept
    in Azure is neither, nor is a release, which replaces a deployment beside it)."""
    return [c for c in plan.changes if c.action in (DELETE, REPLACE) and not c.release]


def diff(base: Graph | None, head: Graph, *, base_label: str = "base", head_label: str = "head",
         now: datetime | None = None) -> Plan:
    """`now`: what schedules' next fire times count from (default: $AMLCTL_PLAN_NOW, else the clock)."""
    plan = Plan(head.stack, base_label, head_label)
    before = base.by_name() if base else {}
    after = head.by_name()
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None:
            plan.changes.append(_created(new))
        elif new is None:
            plan.changes.append(_deleted(old))
        else:
            change = _changed(old, new, plan)
            if change is None:
                plan.unchanged += 1
            else:
                plan.changes.append(change)
    plan.changes.sort(key=lambda c: (ORDER[c.action], c.name))
    _fire_times(plan, after, now)
    plan.roles = _roles(before, after)
    plan.diagnostics += _orphans(before, after)
    return plan


ENDPOINTS = (ML + "OnlineEndpoint", ML + "BatchEndpoint")
DEPLOYMENTS = (ML + "OnlineDeployment", ML + "BatchDeployment")


def _orphans(before: Mapping[str, Resource], after: Mapping[str, Resource]) -> list[Diagnostic]:
    """An endpoint that goes while deployments of it stay: in Azure the deployments go with the
    endpoint, so the head's manifests would describe what cannot exist. An error naming both."""
    out = []
    for name, r in sorted(before.items()):
        if r.type not in ENDPOINTS or name in after:
            continue
        kept = sorted(d for d, dr in after.items() if dr.type in DEPLOYMENTS and d.startswith(name + "/deployments/"))
        for d in kept:
            src = after[d].source
            out.append(Diagnostic(src.path if src else "", src.line if src else 0, src.col if src else 0, "P003",
                                  Severity.ERROR, f"this change deletes {r.subject} (was at {_src(r)}) but keeps its "
                                  f"deployment {after[d].subject}: Azure deletes an endpoint's deployments with it; "
                                  "remove the deployment too, or keep the endpoint", after[d].subject))
    return out


def _fire_times(plan: Plan, after: Mapping[str, Resource], now: datetime | None) -> None:
    """The next fire times of each schedule the plan creates or changes (an Azure ML Schedule; a
    compute instance's start/stop schedules, when it is created or they change), all from one
    reference time (controller/plan/firetimes.py); a plan with no schedule reads no clock."""
    def scheduling(c: Change) -> bool:
        if c.action not in (CREATE, UPDATE, REPLACE) or not firetimes.triggers(c.type, after[c.name].inputs):
            return False
        return firetimes.is_schedule(c.type, after[c.name].inputs) or c.action == CREATE or \
            any(p.path.startswith("properties.properties.schedules") for p in c.properties)
    wanted = [i for i, c in enumerate(plan.changes) if scheduling(c)]
    if not wanted:
        return
    reference, plan.fire_times_basis = firetimes.reference(now)
    plan.fire_times_from = firetimes.show(reference)
    for i in wanted:
        c = plan.changes[i]
        plan.changes[i] = dataclasses.replace(c, fire_times=firetimes.of_resource(c.type, after[c.name].inputs,
                                                                                  reference))


def _src(r: Resource) -> str:
    return str(r.source) if r.source else ""


def _waits(r: Resource, label: str) -> str:
    """A label saying so when the resource serves what a run has not produced yet."""
    from controller.render.kinds.run_outputs import markers
    runs = sorted({str(b.get("run", "")).rsplit("/", 1)[-1] for b in markers(r.inputs)})
    if not runs:
        return label
    return f"{label}; waits for run {', '.join(runs)}: apply makes it once the run has completed"


def _created(r: Resource) -> Change:
    if r.type in VERSIONED_TYPES:
        label = "new asset version"
    elif r.type == ML + "Job":
        label = "new pipeline run" if r.subject.startswith("Pipeline/") else "new job run"
    elif r.subject.startswith("FineTuningJob/"):
        label = "new fine-tuning run"
    elif r.type == ML + "OnlineDeployment":
        label = "new deployment (takes traffic only when the endpoint's traffic names it)"
    elif r.type == "amlctl:azureml:EndpointTraffic":
        label = "traffic allocation"
    else:
        label = "create"
    return Change(CREATE, r.name, r.type, r.subject, _src(r), _waits(r, label), _set(r), r.protect, r.label)


RUN = ML + "Job"  # a fine-tuning run is a generic resource, but history all the same
KEPT_LABELS = {
    RUN: "kept in Azure (a past run is history)",
    "azure-native:storage:Blob": "kept in storage (asset versions that stay in Azure read it)",
}


def _deleted(r: Resource) -> Change:
    if r.retain_on_delete and not r.protect:
        label = ("kept in Azure (asset versions are immutable)"
                 if r.type in VERSIONED_TYPES + archive.CONTAINER_TYPES else
                 KEPT_LABELS.get(RUN if r.subject.startswith("FineTuningJob/") else r.type,
                                 "kept in Azure (retain on delete): amlctl stops managing it"))
        return Change(KEEP, r.name, r.type, r.subject, _src(r), label, (), False, r.label)
    if r.protect:
        label = "deletes a protected resource (apply refuses)"
    elif r.type in VERSIONED_TYPES:
        label = "delete asset version"
    else:
        label = "delete"
    return Change(DELETE, r.name, r.type, r.subject, _src(r), label, (), r.protect, r.label)


def _changed(old: Resource, new: Resource, plan: Plan) -> Change | None:
    if old.type != new.type and old.type in new.moved_from:
        return _moved(old, new, plan)
    ignored = set(new.ignore_changes)
    props = tuple(p for p in _props(old.inputs, new.inputs, new)
                  if not any(p.path == i or p.path.startswith(i + ".") for i in ignored))
    options_changed = (old.protect, old.retain_on_delete) != (new.protect, new.retain_on_delete)
    if not props and not options_changed and old.depends_on == new.depends_on and old.type == new.type:
        return None
    if not props and old.type == new.type:
        # Only options or dependencies: Pulumi records them; Azure sees nothing.
        what = "protection" if old.protect != new.protect else "options"
        return Change(UPDATE, new.name, new.type, new.subject, _src(new), f"{what} only (no change in Azure)",
                      (), new.protect or old.protect, new.label)
    replace = old.type != new.type or any(p.forces_replace for p in props)
    if new.type in VERSIONED_TYPES and replace:
        # Same name means the same explicit version: Azure ML versions are immutable.
        fields = ", ".join(p.path for p in props if p.forces_replace)
        plan.diagnostics.append(_bump(new, fields))
        return Change(REPLACE, new.name, new.type, new.subject, _src(new),
                      "changed content of an existing version: bump the version", props, True, new.label)
    if replace:
        if new.type == ML + "OnlineDeployment":
            label = ("needs a new deployment plus traffic shift ("
                     + ", ".join(p.path.rsplit(".", 1)[-1] for p in props if p.forces_replace) + " cannot change in place)")
        elif old.protect:
            label = "destructive replace of a protected resource (apply refuses)"
        else:
            label = "destructive replace"
        return Change(REPLACE, new.name, new.type, new.subject, _src(new), _waits(new, label), props, old.protect,
                      new.label)
    if new.type in VERSIONED_TYPES + archive.CONTAINER_TYPES and [p.path for p in props] == ["properties.isArchived"]:
        label = archive.ARCHIVED_LABEL if (new.inputs.get("properties") or {}).get("isArchived") else \
            "restored (no longer archived)"
    elif new.type == "amlctl:azureml:EndpointTraffic":
        label = ("rollout policy or record only (no change in Azure)"
                 if all(p.path.split(".")[0] in ("rolloutPolicy", "rolloutState") for p in props) else "traffic shift")
    elif new.type == ML + "Schedule":
        label = "schedule updated (next runs use the new definition)"
    elif new.type == ML + "OnlineDeployment":
        label = "in-place update (rolling)"
    else:
        label = "in-place update"
    return Change(UPDATE, new.name, new.type, new.subject, _src(new), _waits(new, label), props, new.protect, new.label)


def _moved(old: Resource, new: Resource, plan: Plan) -> Change:
    """The same Azure resource under a new Pulumi type (controller/plan/moves.py): what changes is
    its body, in place; its state moves to the new type."""
    translated = dataclasses.replace(old, type=new.type, inputs=moves.translate(old.inputs, new.inputs))
    change = _changed(translated, new, plan)
    moved = f"moved from {old.type.rsplit(':', 1)[-1]} to the {new.type} type in the state, the same Azure resource"
    if change is None or change.action == UPDATE and not change.properties:
        return Change(UPDATE, new.name, new.type, new.subject, _src(new), f"{moved} (no change in Azure)", (),
                      new.protect, new.label)
    return dataclasses.replace(change, label=f"{change.label}; {moved}")


def _bump(r: Resource, fields: str) -> Diagnostic:
    src = r.source
    version = r.inputs.get("version", "?")
    return Diagnostic(src.path if src else "", src.line if src else 0, src.col if src else 0, "P001", Severity.ERROR,
                      f"version {version} already exists at the base revision with different content ({fields}): "
                      "asset versions are immutable in Azure ML; bump the version (or omit it to derive one "
                      "from the content)", r.subject)


def property_changes(type_: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[PropertyChange, ...]:
    """Leaf-level differences between two input documents of one resource type."""
    out: list[PropertyChange] = []
    _walk(before, after, "", type_, out)
    return tuple(out)


def _props(before: Mapping[str, Any], after: Mapping[str, Any], r: Resource) -> tuple[PropertyChange, ...]:
    out: list[PropertyChange] = []
    _walk(before, after, "", r.type, out)
    return _located(out, r)


def _set(r: Resource) -> tuple[PropertyChange, ...]:
    """What a create sets, leaf by leaf as an update's changes are (markers and empty maps are
    values), so that a created resource lists `+ key = value` lines as Terraform does."""
    out: list[PropertyChange] = []

    def walk(value: Any, path: str) -> None:
        if path and (_is_leafish(value) or not value):
            out.append(PropertyChange(path, None, value, False))
            return
        for k in sorted(value):
            walk(value[k], f"{path}.{k}" if path else k)
    walk(r.inputs, "")
    return _located(out, r)


def _located(changes: list[PropertyChange], r: Resource) -> tuple[PropertyChange, ...]:
    return tuple(dataclasses.replace(p, source=r.origin(p.path)) if r.origins else p for p in changes)


_NONE = object()


def _walk(a: Any, b: Any, path: str, type_: str, out: list[PropertyChange]) -> None:
    if _is_leafish(a) or _is_leafish(b):
        if a != b:
            out.append(PropertyChange(path, None if a is _NONE else a, None if b is _NONE else b,
                                      forces_replace(type_, path)))
        return
    for k in sorted(set(a) | set(b)):
        _walk(a.get(k, _NONE), b.get(k, _NONE), f"{path}.{k}" if path else k, type_, out)


def _is_leafish(v: Any) -> bool:
    """Dicts are walked into, except markers ($output, $secret, $asset), which are values."""
    if not isinstance(v, dict):
        return True
    return len(v) == 1 and next(iter(v)).startswith("$")


# -- role assignments, for the RBAC section ---------------------------------------------------------
def _roles(before: Mapping[str, Resource], after: Mapping[str, Resource]) -> list[RoleChange]:
    def described(r: Resource) -> tuple[str, str, str]:
        guid = str(r.inputs.get("roleDefinitionId", "")).rsplit("/", 1)[-1]
        role = rbac.role_name(guid) or guid
        p = r.inputs.get("principalId")
        if isinstance(p, dict) and "$output" in p:
            principal = f"managed identity of {p['$output']['resource']}"
        else:
            principal = f"{r.inputs.get('principalType', 'principal')} {p}"
        return role, principal, _short_scope(str(r.inputs.get("scope", "")))

    rt = "azure-native:authorization:RoleAssignment"
    old = {n: r for n, r in before.items() if r.type == rt}
    new = {n: r for n, r in after.items() if r.type == rt}
    out = []
    for n in sorted(set(old) | set(new)):
        if n in new and n not in old:
            out.append(RoleChange("grant", *described(new[n]), _src(new[n])))
        elif n in old and n not in new:
            out.append(RoleChange("revoke", *described(old[n]), _src(old[n])))
        elif canonical(old[n].inputs) != canonical(new[n].inputs):
            out.append(RoleChange("revoke", *described(old[n]), _src(old[n])))
            out.append(RoleChange("grant", *described(new[n]), _src(new[n])))
    return out


def _short_scope(scope: str) -> str:
    """The last type/name pair of an ARM id, which is what a reviewer recognises."""
    parts = scope.strip("/").split("/")
    if len(parts) >= 2 and "providers" in parts:
        return "/".join(parts[-2:])
    if len(parts) == 4:
        return f"resource group {parts[3]}"
    if len(parts) == 2:
        return f"subscription {parts[1]}"
    return scope
