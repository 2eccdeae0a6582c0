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
build(side.graph, ROOT, provider=azure_provider(side.graph))
