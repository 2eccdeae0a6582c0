"""`render`: a validated estate, as one stack sees it, becomes a plain-data resource graph.

    manifests (overlaid for the stack) -> kind renderers -> Graph

Pure: no Pulumi, no network, no git. The same manifests give the same bytes whatever the file
order. `render_stack` is the convenience the CLI and `plan` use: validate, then render.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from controller import schemas as S
from controller.diagnostics import Diagnostic, Severity, error
from controller.manifests.model import Manifest
from controller.render.context import Context, RenderError
from controller.render.graph import Graph, Resource
from controller.stacks import Stack


@dataclass
class Rendered:
    graph: Graph | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.graph is not None and not any(d.severity is Severity.ERROR for d in self.diagnostics)


def render(manifests: list[Manifest], stack: Stack, *, root: Path, commits: Mapping[str, str] | None = None,
           schemas: S.SchemaSet | None = None, allow_missing_files: bool = False) -> Rendered:
    """`allow_missing_files` is for rendering specs without their files (the corpus): a missing
    local path then hashes by its name instead of failing."""
    from controller.render import kinds
    from controller.render.kinds import run_outputs
    from controller.render.kinds.workspace import RESOURCE_GROUP
    schemas = schemas or S.load()
    ordered = sorted(manifests, key=lambda m: (m.kind, m.workspace or "", m.name, m.path, m.doc_index))
    ctx = Context(stack=stack, manifests=ordered, root=root, schemas=schemas, commits=dict(commits or {}),
                  allow_missing_files=allow_missing_files)
    if stack.settings.get("manageResourceGroup"):
        ctx.add(None, RESOURCE_GROUP, "azure-native:resources:ResourceGroup", {
            "resourceGroupName": ctx.resource_group, "location": ctx.location, "tags": ctx.tags(None)},
            stateful=True, label=f"resource group {ctx.resource_group}", subject=f"stack/{stack.name}")
    for m in ordered:
        try:
            kinds.render_manifest(m, ctx)
        except RenderError as e:
            ctx.diagnostics.append(e.diagnostic)
    run_outputs.link(ctx.resources, ctx)
    diagnostics = sorted(set(ctx.diagnostics))
    diagnostics += _dangling(ctx.resources.values(), stack)
    if any(d.severity is Severity.ERROR for d in diagnostics):
        return Rendered(None, diagnostics)
    settings = {k: stack.settings[k] for k in ("target", "subscriptionId", "resourceGroup", "location",
                                               "supersededVersions") if k in stack.settings}
    return Rendered(Graph(stack.name, tuple(ctx.resources.values()), settings), diagnostics)


def _dangling(resources, stack: Stack) -> list[Diagnostic]:
    """A dependency on a resource the graph does not hold is a renderer bug; say so plainly."""
    names = {r.name for r in resources}
    out = []
    for r in resources:
        for d in r.depends_on:
            if d not in names:
                src = r.source
                out.append(error(src.path if src else stack.path, src.line if src else 0, src.col if src else 0,
                                 "R009", f"{r.name} depends on {d}, which the graph does not hold",
                                 r.subject))
    return out


__all__ = ["Graph", "Rendered", "Resource", "render"]
