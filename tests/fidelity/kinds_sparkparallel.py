"""Fidelity of Spark and parallel components (and the asset versions published into a registry)
against azure-ai-ml's `_to_rest_object()`. Read by tests/fidelity.py.

The corpus's Spark components are compared by kinds_assets.py like any component file. The corpus
has no parallel component file, so this module compares the coverage estate's assets area
(tests/estates/coverage/assets, laid over base/ as the engine test lays it), as a GROUP: its
outcomes count in the corpus figures. A parallel component names its code and environment under
`task`: amlctl writes them as `azureml:<ARM id>` (the uploaded code version, the environment
version), azure-ai-ml's body still holds the local folder and `azureml:<name>:<version>`; `back`
strips the prefix so that the harness's rule (an ARM id equals the name:version it resolves)
applies, and the local folder is known-sparkparallel.yaml's difference.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import coverage_area  # noqa: E402
import fidelity as F  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

AREA = "assets"


def _component(r: Resource) -> dict[str, Any]:
    """kinds_assets' Component shape, with the task's references stripped of `azureml:` too."""
    out = F.KINDS["Component"].back(r)
    spec = out["properties"]["componentSpec"]
    task = spec.get("task")
    if isinstance(task, dict):
        spec["task"] = {k: (v[len("azureml:"):] if isinstance(v, str) and v.startswith("azureml:/subscriptions/")
                            else v) for k, v in task.items()}
    return out


def _compared(m: Any) -> bool:
    """The manifests this group compares: its Spark and parallel components (the rest of the area's
    kinds are compared elsewhere, or by test_registry_assets.py)."""
    return m.kind == "Component" and m.spec.get("type") in ("spark", "parallel")


def outcomes() -> list[F.Outcome]:
    with coverage_area.rendered(AREA) as done:
        return [_one(m, done.graph, done.root, done.out) for m in done.manifests if _compared(m)]


def _one(m: Any, graph: dict[str, Resource], root: Path, rendered: Any) -> F.Outcome:
    spec = F.KindSpec(F.KINDS["Component"].loader, F.KINDS["Component"].rest, F.KINDS["Component"].main, _component)
    return F.one(spec, m, graph, root, rendered)


KINDS: dict[str, F.KindSpec] = {}
GROUPS = [outcomes]
