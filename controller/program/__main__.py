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
from controller.engine import rollouts  # noqa: E402

if rollouts.has_endpoints(graph):
    # Endpoints' deployments go by the names their releases gave them, kept in the stack's state
    # (controller.rollout): plain Pulumi keeps every release where it stands (it never starts or
    # advances one), and refuses when it cannot read where they stand.
    import datetime as _dt

    from controller.rollout.overlay import overlay
    records = rollouts.offline_records(ROOT, pulumi.get_stack())
    if records is None:
        raise SystemExit("amlctl: this stack's endpoints are released by amlctl, which keeps where each release "
                         "stands in the stack's state; run `amlctl apply` (plain Pulumi reads that state only from "
                         "a file backend)")
    graph = overlay(graph, records, _dt.datetime.now(_dt.timezone.utc), advance=False).graph
build(graph, ROOT, provider=azure_provider(graph))
