"""Adoption without recreation: the import of each existing resource the manifests render to, into
the stack's Pulumi state, under the name and with the id the renderer gives it.

    render the working tree -> match (pure: graph resource -> ARM id -> exists?)
        -> import specs (local: the simulation's state; azure: ids for azure-native's read)
        -> Stack.import_resources (`pulumi import --file`), under the stack's operation lock

After it, `plan`/`preview` creates nothing that exists: what it still shows are the differences
between the cloud and the manifests (for a fresh import, amlctl's own bookkeeping: its tags, and
the description a container takes from its highest version).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from controller.engine.local import ID_TEMPLATES, ArmError, arm_ids
from controller.render.graph import Graph, Resource

TRAFFIC = "amlctl:azureml:EndpointTraffic"


@dataclass(frozen=True)
class Match:
    resource: Resource
    arm_id: str


@dataclass(frozen=True)
class Recorded:
    stack: str
    imported: tuple[Match, ...]
    already: tuple[str, ...]  # graph names the state held before
    to_create: tuple[str, ...]  # resources of the written manifests that do not exist: the next apply creates them

    def lines(self) -> list[str]:
        out = []
        if self.imported:
            out.append(f"adopted into stack {self.stack}'s state (nothing was created or changed in the cloud): "
                       f"{len(self.imported)} resource(s)")
            out += [f"  = {m.resource.name}  ({m.resource.type_name})" for m in self.imported]
        if self.already:
            out.append(f"already in stack {self.stack}'s state: " + ", ".join(self.already))
        if self.to_create:
            out.append("not in the cloud, created by the next apply: " + ", ".join(self.to_create))
        if not (self.imported or self.already or self.to_create):
            out.append(f"nothing to adopt into stack {self.stack}")
        out.append(f"next: amlctl preview --stack {self.stack} shows what still differs between the cloud and the "
                   "manifests; commit the manifests, then apply")
        return out


# -- matching (pure) --------------------------------------------------------------------------------
def arm_id_of(r: Resource, subscription: str) -> str | None:
    """The ARM id the resource has once it exists, or None for a type that names no ARM resource."""
    if r.type not in ID_TEMPLATES:
        return None
    try:
        return arm_ids(r.type, r.inputs, subscription, r.name)[0]
    except ArmError:
        return None  # a naming input only known at deploy time (an output of another resource)


def existing_ids(shown_ids: Iterable[str], endpoints_with_traffic: Iterable[str] = ()) -> frozenset[str]:
    """Every ARM id (lower case) that exists, from the ids of the objects read: an asset version's
    container exists with it, and an endpoint's traffic split is a step of its own in the graph."""
    out = set()
    for i in shown_ids:
        i = i[len("azureml:"):] if i.startswith("azureml:") else i
        out.add(i.lower())
        head, sep, _ = i.rpartition("/versions/")
        if sep:
            out.add(head.lower())
    out |= {e.lower() + "/traffic" for e in endpoints_with_traffic}
    return frozenset(out)


def match(graph: Graph, exists: frozenset[str], subscription: str) -> tuple[list[Match], list[str]]:
    """(the resources that exist, the names of those that do not) among the graph's resources
    that name ARM resources the reader could have seen."""
    found, missing = [], []
    for r in graph.resources:
        arm_id = arm_id_of(r, subscription)
        if arm_id is None:
            continue
        if arm_id.lower() in exists:
            found.append(Match(r, arm_id))
        elif "/workspaces/" in arm_id.lower():
            missing.append(r.name)
    return found, missing


# -- the import ---------------------------------------------------------------------------------------
def specs(matches: Iterable[Match], settings: Mapping[str, Any], sim_dir: Path,
          provider_urn: str | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The import file's resources and name table."""
    sub = str(settings.get("subscriptionId"))
    out: list[dict[str, Any]] = []
    if settings.get("target") == "local":
        from controller.engine.local_providers import adoption
        for m in matches:
            spec = adoption(m.resource.type, m.resource.name, sim_dir, sub, m.arm_id, m.resource.inputs)
            if spec is not None:
                out.append(spec)
        return out, {}
    # Azure: azure-native reads each resource itself (its import). The program gives every
    # azure-native resource one explicit provider named "azure-native": the import must use it too.
    import pulumi_azure_native
    table: dict[str, str] = {}
    if provider_urn:
        table["azure-native"] = provider_urn
    else:
        out.append({"type": "pulumi:providers:azure-native", "name": "azure-native",
                    "inputs": {"subscriptionId": sub, "location": settings.get("location")},
                    "version": pulumi_azure_native._utilities.get_version()})
    for m in matches:
        if m.resource.type.startswith("azure-native:"):
            out.append({"type": m.resource.type, "name": m.resource.name, "id": m.arm_id, "provider": "azure-native"})
    return out, table


def record(root: Path, stack: str, found: Iterable[Any], settings: Mapping[str, Any]) -> Recorded:
    """Import every existing resource the working tree's manifests render to, of the objects read."""
    from controller.adopt.run import AdoptError
    from controller.engine import operations, state
    from controller.engine.binary import find_engine
    from controller.revisions import render_stack

    found = list(found)
    side = render_stack(root, stack)
    if side.graph is None:
        problems = "\n".join(d.format() for d in side.diagnostics if d.severity.value == "error")
        raise AdoptError(f"the manifests are written, but stack {stack} does not render, so nothing was adopted "
                         f"yet; fix this and run the same amlctl import again (it adopts what it finds):\n{problems}")
    graph = side.graph
    endpoints = [f.shown.get("id", "") for f in found if f.kind == "OnlineEndpoint" and f.shown.get("traffic")]
    exists = existing_ids([str(f.shown.get("id", "")) for f in found], endpoints)
    matches, missing = match(graph, exists, str(settings.get("subscriptionId")))
    read_kinds = {f"{f.kind}/{f.name}" for f in found}
    missing = [n for n in missing if graph.by_name()[n].subject in read_kinds]
    with state.exclusive(root, stack, "import"):
        st = operations.open_stack(root, stack, graph, find_engine())
        held = {_name(r.get("urn", "")): r for r in (st.export_stack().deployment or {}).get("resources", [])}
        already = tuple(m.resource.name for m in matches if m.resource.name in held)
        todo = [m for m in matches if m.resource.name not in held]
        provider = next((r["urn"] for r in held.values() if r.get("type") == "pulumi:providers:azure-native"
                         and _name(r.get("urn", "")) == "azure-native"), None)
        resources, table = specs(todo, settings, state.sim_dir(root, stack), provider)
        if resources:
            was = state.read(root, stack)
            state.begin(root, stack, "import")
            # Not protected by the import itself: the next update sets each resource's protection
            # as the manifests and the stack say (asset versions, say, are never protected).
            import os

            from controller.engine.import_host import path_with_host
            home = state.state_dir(root, stack).parent
            st.workspace.env_vars["PATH"] = path_with_host(home, os.environ.get("PATH", ""))
            st.import_resources(resources=resources, name_table=table or None, protect=False, generate_code=False,
                                message=f"amlctl import: {len(resources)} existing resource(s)")
            # The last applied graph stays what it was: an import is no apply (and never lets
            # the next apply skip the engine).
            state.succeeded(root, stack, "import", state.applied_graph(root, stack, was), was.commit if was else None)
    imported = tuple(m for m in todo if any(s.get("name") == m.resource.name for s in resources))
    return Recorded(stack, imported, already, tuple(missing))


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]
