"""Superseded asset versions, archived: a stack with `amlctl:supersededVersions: archive`.

    carry(before graph, after graph) -> the after graph, plus each asset version (and container) that
    left it since `before`, kept with properties.isArchived = true

Asset versions are append-only (controller.render.context.APPEND_ONLY): one that leaves git stays in
Azure. By default amlctl then forgets it; with `archive` it keeps it in the graph, archived (Azure
ML's isArchived: hidden from lists and from `@latest`, still usable by what names it). Pure: two
graphs in, a graph out. `before` is what the change starts from: the base revision for `plan`, the
last applied graph for `preview`, `apply` and `drift` (which holds the versions archived earlier, so
they stay archived and never show up as a change again).
"""
from __future__ import annotations

import copy
import dataclasses

from controller.plan.immutable import VERSIONED_TYPES
from controller.render.graph import Graph

SETTING = "supersededVersions"
ARCHIVE = "archive"
# A feature store's containers are "...ContainerEntity" in pulumi-azure-native.
CONTAINER_TYPES = tuple(t.replace("Version", "ContainerEntity" if ":Feature" in t else "Container")
                        for t in VERSIONED_TYPES if "CodeVersion" not in t)
ARCHIVED_LABEL = "archived (superseded: kept in Azure, hidden from lists and @latest)"


def carry(before: Graph | None, after: Graph) -> Graph:
    if before is None or after.settings.get(SETTING) != ARCHIVE:
        return after
    present = {r.name for r in after.resources}
    kept = []
    for r in before.resources:
        if r.name in present or r.type not in VERSIONED_TYPES + CONTAINER_TYPES or not r.retain_on_delete:
            continue
        inputs = copy.deepcopy(dict(r.inputs))
        inputs.setdefault("properties", {})["isArchived"] = True
        depends = tuple(d for d in r.depends_on if d in present)  # what it needed may be gone too
        label = r.label if r.label.endswith(ARCHIVED_LABEL) else f"{r.label}, {ARCHIVED_LABEL}"
        kept.append(dataclasses.replace(r, inputs=inputs, depends_on=depends, label=label, protect=False))
    if not kept:
        return after
    return Graph(after.stack, after.resources + tuple(kept), after.settings)
