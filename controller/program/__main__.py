"""Entry point for `pulumi up` in the project directory (Pulumi.yaml: main: controller/program/).

It renders the working tree for the selected stack and registers the graph, the same program the
controller runs inline through the Automation API.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from controller.program import azure_provider, build  # noqa: E402
from controller.revisions import render_stack  # noqa: E402

side = render_stack(ROOT, pulumi.get_stack())
if side.graph is None:
    problems = "\n".join(d.format() for d in side.diagnostics if d.severity.value == "error")
    raise SystemExit(f"amlctl: the manifests do not render for stack {pulumi.get_stack()}:\n{problems}")
graph = side.graph
from controller import runs  # noqa: E402
from controller.runs import target  # noqa: E402

if runs.runs_of(graph):
    # What serves a run's model takes the model's id once the run has completed. Plain Pulumi
    # knows nothing of the last apply, so what still waits cannot be kept as it was: refuse rather
    # than let Pulumi delete a serving endpoint.
    from controller.engine.state import state_dir
    sim = state_dir(ROOT, pulumi.get_stack()) / "sim"
    settled = runs.settle(graph, runs.read(graph, target.reader(graph, sim)), None)
    if settled.waiting:
        raise SystemExit("amlctl: " + "; ".join(w.describe() for w in settled.waiting)
                         + ": run `amlctl apply`, which keeps what waits as last applied")
    graph = settled.graph
build(graph, ROOT, provider=azure_provider(graph))
