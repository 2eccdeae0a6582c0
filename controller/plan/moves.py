"""A resource that changes Pulumi type but stays the same Azure resource (a compute instance that
an earlier amlctl applied as a typed Compute, now the generic resource that carries its root-access
settings; see Resource.moved_from).

To Pulumi a new type is a new resource: the old one would be deleted and the new one created,
which for a compute instance is its disk and its user's work. And an alias is not enough:
pulumi-azure-native plans a replacement for every change to a path parameter
(provider/pkg/provider/diff.go, calculateDetailedDiff), and the generic resource's path parameters
(resourceName, parentResourcePath, ...) are all new to the typed one's inputs. So the engine moves
the resource in the state (controller.engine.moves) with the inputs `translate` gives: the new
resource's addressing, the old one's body. Then the engine's diff is the body alone: an update in
place, as the offline plan says (it diffs the same translation).
"""
from __future__ import annotations

from typing import Any, Mapping

from controller.render.graph import markers

# The inputs that are the resource's body, not its address: a move keeps the old values of these,
# so that what changes in them is planned as an update.
BODY = frozenset({"properties", "location", "tags", "identity", "sku", "kind"})


def translate(old: Mapping[str, Any], new: Mapping[str, Any], old_inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`old` (the old inputs, or what the state keeps beside them: outputs) in the new type's shape:
    the old type's address inputs the new one lacks are dropped (workspaceName, computeName), the
    new one's address inputs are set (resourceName, parentResourcePath, apiVersion ...), and the
    rest stays as it was: the body, whose differences are the update, and what the engine keeps
    beside inputs (a dynamic provider's `__provider`, computed outputs)."""
    address = old_inputs if old_inputs is not None else old
    dropped = {k for k in address if k not in new and k not in BODY and not k.startswith("__")}
    out = {k: v for k, v in old.items() if k not in dropped}
    for key, value in new.items():
        if key in BODY or list(markers(value)):  # the body, or an output of another resource: not an address
            continue
        out[key] = value
    return out
