"""What `amlctl plan` says about a create that may meet a resource that already exists (issue 15).

`plan` is offline: it reads git, never Azure. On the local target the "cloud" is on this disk, so
a create whose ARM id the simulation already holds (made without amlctl, or by another stack) is
known, and named: its apply would fail with Conflict. On Azure it is not knowable without
credentials: plan says so once, and points at `amlctl import`, which adopts what exists.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from controller.diagnostics import Diagnostic, Severity

CODE = "P004"


def _naming_inputs(change: Any) -> dict[str, Any]:
    """The top-level inputs of a created resource (its name, workspace, resource group)."""
    return {p.path: p.after for p in change.properties if "." not in p.path and isinstance(p.after, (str, int))}


def notes(plan: Any, settings: Mapping[str, Any], exists: Callable[[str], str | None] | None) -> list[Diagnostic]:
    """Warnings for the plan's creates. `exists(arm_id)` answers, where that is knowable, who made
    the resource at that id (None: nothing there); None means not knowable (Azure, offline)."""
    from controller.engine.local import ID_TEMPLATES, ArmError, arm_ids
    creates = [c for c in plan.changes if c.action == "create"]
    if not creates:
        return []
    stack = plan.stack
    if exists is None:
        return [Diagnostic(f"stacks/Pulumi.{stack}.yaml", 0, 0, CODE, Severity.WARNING,
                           f"{len(creates)} create(s): whether any of them already exists in Azure is not knowable "
                           "offline (plan reads no cloud); `amlctl preview` asks the engine, and an apply of a "
                           f"create that exists fails. Adopt what exists first: amlctl import --stack {stack}",
                           "", stack)]
    out = []
    sub = str(settings.get("subscriptionId"))
    for c in creates:
        if c.type not in ID_TEMPLATES:
            continue
        try:
            arm_id = arm_ids(c.type, _naming_inputs(c), sub, c.name)[0]
        except ArmError:
            continue
        made_by = exists(arm_id)
        if made_by is None or made_by == c.name:
            continue
        path, line, col = _where(c.source)
        out.append(Diagnostic(path, line, col, CODE, Severity.WARNING,
                              f"{c.name} already exists on the local target (made as {made_by!r}, not by this "
                              f"stack): its create would fail with Conflict. Adopt it: amlctl import --stack {stack}"
                              + (f" {c.subject}" if c.subject and "/" in c.subject else ""), c.subject, stack))
    return out


def simulation(sim_dir: Path, managed: frozenset[str] = frozenset()) -> Callable[[str], str | None]:
    """`exists` on the local target: the Pulumi name (or "(made in the portal)") of the document
    the simulation holds at an id, unless the stack's state holds that id (`managed`: adopted by
    `amlctl import`, its document still says who made it until the first apply)."""
    from controller.engine.local import Store
    store = Store(sim_dir)

    def made_by(arm_id: str) -> str | None:
        if arm_id.lower() in managed:
            return None
        doc = store.load(arm_id)
        return str(doc.get("name")) if doc is not None and store.live(doc) else None
    return made_by


def managed_ids(backend: str, project: str, stack: str) -> frozenset[str]:
    """The ids (lower case) the stack's file-backend checkpoint holds, read without the engine."""
    import json

    from controller.engine import checkpoint
    found = checkpoint.find(backend, project, stack)
    if found is None or found.problem:
        return frozenset()
    try:
        doc = json.loads(found.path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()
    resources = ((doc.get("checkpoint") or {}).get("latest") or {}).get("resources") or []
    return frozenset(str(r["id"]).lower() for r in resources if r.get("id"))


def _where(source: str | None) -> tuple[str, int, int]:
    parts = (source or "").rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1]), int(parts[2])
    return source or "", 0, 0
