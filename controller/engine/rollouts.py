"""The rollout stage (controller.rollout) where the engine runs: the records come out of the
stack's state, the health out of the target, and the plan says what a release does."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Mapping

from controller import plan as P
from controller.engine import checkpoint
from controller.engine.state import file_backend, sim_dir
from controller.render.graph import Graph
from controller.rollout import Rolled
from controller.rollout.overlay import TRAFFIC, overlay
from controller.rollout.record import Applied
from controller.rollout.sources import health_for
from controller.rollout.store import from_checkpoint, from_export


def has_endpoints(graph: Graph) -> bool:
    return any(r.type == TRAFFIC for r in graph.resources)


def records(root: Path, stack: str) -> dict[str, Applied]:
    """Each endpoint's record as the stack's state holds it ({} for a stack never applied)."""
    found = offline_records(root, stack)
    if found is not None:
        return found
    from controller.engine import operations as O
    try:
        st = O.open_stack(root, stack, O._stack_only(root, stack), O.find_engine(), create=False)
    except O.NeverApplied:
        return {}
    return from_export(st)


def offline_records(root: Path, stack: str) -> dict[str, Applied] | None:
    """The records as `plan` reads them, with no engine and no credentials: from a file backend's
    checkpoint ({} when the stack was never applied), else None (not readable offline). A torn
    checkpoint reads as none here; the engine's start refuses it with the way out
    (controller.engine.checkpoint)."""
    from controller.engine import operations as O
    try:
        cp = checkpoint.find(O.backend_url(root, stack), O._project_name(root), stack)
    except O.Refused:
        return None
    if cp is None:
        return None if file_backend(O.backend_url(root, stack)) is None else {}
    return from_checkpoint(cp.path) or {}


def roll(root: Path, stack: str, graph: Graph, *, decisions: Mapping[str, str] | None = None,
         advance: bool = True, now: dt.datetime | None = None,
         applied: Mapping[str, Applied] | None = None) -> Rolled:
    """`applied`: the records, when the caller has read them already."""
    if not has_endpoints(graph):
        return Rolled(graph)
    now = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    health = health_for(graph, sim_dir(root, stack), now)
    return overlay(graph, records(root, stack) if applied is None else applied, now, health, decisions, advance)


def label(plan: P.Plan, rolled: Rolled) -> P.Plan:
    """What a release's resources are, in the plan's words."""
    if not rolled.reports:
        return plan
    changes = []
    for c in plan.changes:
        if c.name in rolled.retired and c.action == P.DELETE:
            c = dataclasses.replace(c, label="old deployment of a release: deleted once the traffic has moved off it")
        changes.append(c)
    plan.changes = changes
    return plan


def deletes(changes: list[P.Change], rolled: Rolled) -> list[P.Change]:
    """The deletes and replaces that need --allow-delete: a release's old deployments do not."""
    return [c for c in changes if not (c.action == P.DELETE and c.name in rolled.retired)]

