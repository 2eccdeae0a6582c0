"""Reading the releases' records out of a stack's state: the outputs of each endpoint's traffic
step, from the engine's checkpoint (a file backend's JSON, read with no engine, which is how the
offline `plan` sees them) or from the engine's export (any backend)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from controller.rollout.record import Applied


def from_resources(resources: Iterable[Mapping[str, Any]]) -> dict[str, Applied]:
    out: dict[str, Applied] = {}
    for r in resources:
        name = str(r.get("urn", "")).split("::")[-1]
        outputs = r.get("outputs") or {}
        if name.endswith("/traffic") and isinstance(outputs, Mapping) and "endpointId" in outputs and \
                not r.get("delete"):  # a resource the engine still has to delete is no record
            out[name] = Applied.from_outputs(outputs)
    return out


def from_checkpoint(path: Path) -> dict[str, Applied] | None:
    """None when there is no readable checkpoint (never applied, or torn: apply says so)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return from_resources(doc["checkpoint"]["latest"].get("resources") or [])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def from_export(st: Any) -> dict[str, Applied]:
    deployment = st.export_stack().deployment or {}
    return from_resources(deployment.get("resources") or [])
