"""Compute: clusters, compute instances and attached Kubernetes, one machinelearningservices.Compute each."""
from __future__ import annotations

from controller.manifests.model import Manifest
from controller.render.context import ML, Context, resource_name
from controller.render.kinds import renders, scope, workspace_dep


@renders("Compute")
def compute(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    inputs = {**scope(m, ctx), "computeName": m.name, "location": body.get("location", ctx.workspace_location(m.workspace)),
              "properties": body.get("properties", {}), "tags": ctx.tags(m, body.get("tags"))}
    if "identity" in body:
        inputs["identity"] = body["identity"]
    ctx.add(m, resource_name(m), ML + "Compute", inputs, depends_on=deps | {workspace_dep(m, ctx)},
            label=f"{m.spec.get('type')} {m.name}")
