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

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fidelity as F  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

COVERAGE = Path(__file__).resolve().parent.parent / "estates" / "coverage"
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


def estate(root: Path) -> Path:
    """base/ and the assets area in one folder, as tests/test_coverage_engine.py lays them."""
    for part in (COVERAGE / "base", COVERAGE / AREA):
        shutil.copytree(part, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("CHANGE.yaml"))
    return root


def _compared(m: Any) -> bool:
    """The manifests this group compares: its Spark and parallel components (the rest of the area's
    kinds are compared elsewhere, or by test_registry_assets.py)."""
    return m.kind == "Component" and m.spec.get("type") in ("spark", "parallel")


def outcomes() -> list[F.Outcome]:
    from controller.render import render
    from controller.validate import validate
    with tempfile.TemporaryDirectory() as tmp:
        root = estate(Path(tmp) / "estate")
        report = validate(root=root, cwd=root, render=False)
        stack = next(s for s in report.stacks if s.name == "local")
        manifests = report.overlaid["local"]
        rendered = render(manifests, stack, root=root)
        graph = rendered.graph.by_name() if rendered.graph else {}
        return [_one(m, graph, root, rendered) for m in manifests if _compared(m)]


def _one(m: Any, graph: dict[str, Resource], root: Path, rendered: Any) -> F.Outcome:
    spec = F.KindSpec(F.KINDS["Component"].loader, F.KINDS["Component"].rest, F.KINDS["Component"].main, _component)
    outcome = F.Outcome(m.path, m.kind, m.name)
    resource = spec.main(m, graph)
    if resource is None:
        errors = [d.message for d in rendered.diagnostics if d.severity.value == "error"]
        outcome.error = "amlctl: " + ("; ".join(errors[:2]) or "no resource rendered")
        return outcome
    try:
        entity = F._load_entity(spec, m, root, resource)
    except Exception as e:  # azure-ai-ml refuses it: nothing to compare against
        outcome.error = "azure-ai-ml: " + str(e).strip().splitlines()[0][:200]
        return outcome
    F.compare(m, resource, spec, entity, F.load_known(), outcome)
    return outcome


KINDS: dict[str, F.KindSpec] = {}
GROUPS = [outcomes]
