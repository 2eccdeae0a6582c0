"""Compute: clusters, compute instances and attached compute (Kubernetes, virtual machines, Synapse
Spark pools), one machinelearningservices.Compute each.

An attached VM's admin account (`administratorAccount`: the password or private key as a secret
reference, never the value) and a Synapse pool's resource id and identity are all typed by the
provider's VirtualMachine and SynapseSpark; a Synapse pool's node, scale and pause settings are the
pool's own (azure-ai-ml sends none of them), and the schema refuses them instead of dropping them.

A compute instance goes through `azure-native:resources:Resource` instead, at an explicit API
version: its root access, OS patching and quota-on-stop settings (`enableRootAccess`,
`enableOSPatching`, `releaseQuotaOnStop`, which azure-ai-ml always sends) are in the Azure ML REST
API's ComputeInstanceProperties of the preview versions (2024-04-01-preview, 2025-01-01-preview)
but not in the 2025-12-01 schema pulumi-azure-native 3.29's typed Compute is generated from, and the
provider drops what its schema does not type: Azure would create the instance with its defaults.
They are creation-time settings of the instance's VM, so a second request after the typed create
could not set them; the generic resource PUTs the whole body, as azure-ai-ml does, in the one
create. Always, not only when a setting differs from the default: a compute instance that changed
resource type between applies would be deleted and created again. An instance applied by an earlier
amlctl as a typed Compute is moved to the generic type in the stack's state (`moved_from`,
controller.engine.moves): updated in place, never deleted.
"""
from __future__ import annotations

from typing import Any

from controller.manifests.model import Manifest
from controller.render.context import ML, Context, resource_name
from controller.render.kinds import renders, scope, workspace_dep

GENERIC = "azure-native:resources:Resource"
# The newest Azure ML REST version found whose ComputeInstanceProperties has enableRootAccess,
# enableOSPatching and releaseQuotaOnStop (bicep-types-az, generated from azure-rest-api-specs; the
# stable 2025-12-01 has none of them: azure-ai-ml 1.35 sets them by wire key for that reason). A
# preview version is retired some day: move it on with the specs.
INSTANCE_API = "2025-01-01-preview"
# The generic resource's identity type (resources.ResourceIdentityType, a closed enum) spells the
# combined type with a space, where machinelearningservices' ManagedServiceIdentityType has none.
_GENERIC_IDENTITY = {"SystemAssigned,UserAssigned": "SystemAssigned, UserAssigned"}


@renders("Compute")
def compute(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    properties = body.get("properties", {})
    location = body.get("location", ctx.workspace_location(m.workspace))
    inputs: dict[str, Any]
    if properties.get("computeType") == "ComputeInstance":
        inputs = {"resourceGroupName": ctx.resource_group,
                  "resourceProviderNamespace": "Microsoft.MachineLearningServices",
                  "parentResourcePath": f"workspaces/{m.workspace}", "resourceType": "computes",
                  "resourceName": m.name, "apiVersion": INSTANCE_API, "location": location,
                  "properties": properties, "tags": ctx.tags(m, body.get("tags"))}
        if "identity" in body:
            identity = dict(body["identity"])
            identity["type"] = _GENERIC_IDENTITY.get(identity.get("type"), identity.get("type"))
            inputs["identity"] = identity
        type_ = GENERIC
        moved_from: tuple[str, ...] = (ML + "Compute",)
    else:
        inputs = {**scope(m, ctx), "computeName": m.name, "location": location, "properties": properties,
                  "tags": ctx.tags(m, body.get("tags"))}
        if "identity" in body:
            inputs["identity"] = body["identity"]
        type_ = ML + "Compute"
        moved_from = ()
    ctx.add(m, resource_name(m), type_, inputs, depends_on=deps | {workspace_dep(m, ctx)},
            label=f"{m.spec.get('type')} {m.name}", moved_from=moved_from)
