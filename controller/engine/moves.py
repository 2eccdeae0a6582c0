"""Moves in the stack's state: a resource the graph now gives another Pulumi type, but that is the
same Azure resource (Resource.moved_from; why a move and not an alias: controller/plan/moves.py).

Before the engine plans, each such resource still recorded under its former type is rewritten in
the state to the new type: its URN (and every reference to it: dependencies, parents), and its
inputs in the new shape (controller.plan.moves.translate), so that the engine's diff is the body
alone. Nothing in Azure changes here; the update that follows is a PUT of the same resource.
Idempotent: a state with nothing to move is not written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from controller.plan.moves import translate
from controller.render.graph import Graph


@dataclass(frozen=True)
class Move:
    name: str  # the graph (Pulumi) name
    old_type: str  # the type token in the state before (a local-target state spells it as its dynamic type)
    new_type: str


def _state_type(token: str, like: str, former: str) -> str:
    """`token` spelled as the state spells `former` (`like`): itself on Azure, the dynamic type
    (pulumi-python:dynamic/local/<package>/<module>:<Type>) on the local target."""
    if like == former:
        return token
    package, module, cls = token.split(":")
    old_package, old_module, old_cls = former.split(":")
    prefix = like[: -len(f"{old_package}/{old_module}:{old_cls}")]
    return f"{prefix}{package}/{module}:{cls}"


def _spellings(token: str) -> set[str]:
    package, module, cls = token.split(":")
    return {token, f"pulumi-python:dynamic/local/{package}/{module}:{cls}"}


def plan(deployment: Mapping[str, Any], graph: Graph) -> list[Move]:
    """The moves a state needs for `graph`: each graph resource with `moved_from` whose name the
    state holds under a former type and not yet under its own."""
    by_name: dict[str, list[dict]] = {}
    for r in deployment.get("resources") or ():
        by_name.setdefault(r["urn"].rsplit("::", 1)[-1], []).append(r)
    moves = []
    for res in graph.resources:
        if not res.moved_from or res.name not in by_name:
            continue
        held = {r["type"] for r in by_name[res.name]}
        for former in res.moved_from:
            found = sorted(held & _spellings(former))
            if found and not held & _spellings(res.type):
                moves.append(Move(res.name, found[0], _state_type(res.type, found[0], former)))
    return moves


def rewrite(deployment: Mapping[str, Any], graph: Graph, moves: list[Move]) -> dict[str, Any]:
    """The state with `moves` made (pure: a new document)."""
    doc = json.loads(json.dumps(deployment))
    by_name = graph.by_name()
    urns: dict[str, str] = {}
    for move in moves:
        for r in doc.get("resources") or ():
            if r["urn"].rsplit("::", 1)[-1] != move.name or r["type"] != move.old_type:
                continue
            head, _, name = r["urn"].rpartition("::")
            new_urn = f"{head.rsplit('::', 1)[0]}::{move.new_type}::{name}"
            urns[r["urn"]] = new_urn
            r["urn"], r["type"] = new_urn, move.new_type
            new_inputs = dict(by_name[move.name].inputs)
            old_inputs = r.get("inputs") or {}
            r["inputs"] = translate(old_inputs, new_inputs)
            # A dynamic provider (the local target) diffs the old outputs; pulumi-azure-native keeps
            # its inputs among its outputs too (`__inputs`).
            outputs = r.get("outputs") or {}
            if isinstance(outputs.get("__inputs"), dict):
                outputs["__inputs"] = translate(outputs["__inputs"], new_inputs)
            if outputs:
                r["outputs"] = translate(outputs, new_inputs, old_inputs)
    if not urns:
        return doc
    text = json.dumps(doc)
    for old, new in urns.items():  # a URN is unique, and appears only where it is meant
        text = text.replace(json.dumps(old), json.dumps(new))
    return json.loads(text)


def apply(st: Any, graph: Graph, report: Any) -> list[Move]:
    """Make the moves `graph` needs in the stack `st` (an Automation API Stack), and say so."""
    exported = st.export_stack()
    moves = plan(exported.deployment or {}, graph)
    if not moves:
        return []
    exported.deployment = rewrite(exported.deployment, graph, moves)
    st.import_stack(exported)
    for move in moves:
        report.notice(f"{move.name}: moved in the state from {move.old_type} to {move.new_type} (the same Azure "
                      "resource: updated in place, never deleted)")
    return moves
