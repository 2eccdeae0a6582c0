"""The program's one entry: what `pulumi up` (through `Pulumi.yaml`'s `main: __main__.py`), Pulumi
Deployments, the Pulumi Kubernetes Operator and amlctl's own inline program all run.

    working directory -> repository -> render the stack -> settle runs, place releases -> register

The repository is the working directory the engine runs the program in (the folder holding
`Pulumi.yaml`, or the nearest one above it), never where amlctl is installed: installed from a
wheel, amlctl's own files are in site-packages, far from the estate.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pulumi

from controller.render.graph import Graph

PROJECT_FILE = "Pulumi.yaml"


class EntryError(pulumi.RunError):
    """Bad input or a state plain Pulumi cannot handle: the engine prints the message alone
    (pulumi.RunError is reported without a traceback, by the language host and the Automation API)."""


def repository(cwd: Path) -> Path:
    """The nearest folder from `cwd` upwards that holds Pulumi.yaml and stacks/."""
    cwd = cwd.resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / PROJECT_FILE).is_file() and (folder / "stacks").is_dir():
            return folder
    raise EntryError(f"amlctl: no {PROJECT_FILE} with a stacks/ folder beside it in {cwd} or above it: run the "
                     "program from the estate's repository (the engine runs it in the folder of Pulumi.yaml)")


def graph_for(root: Path, stack: str) -> Graph:
    """The graph the engine registers for the stack: the working tree rendered, each run's output
    filled in where the run has completed, each endpoint's deployments under its release's names."""
    from controller.revisions import render_stack
    if not (root / "stacks" / f"Pulumi.{stack}.yaml").is_file():
        raise EntryError(f"amlctl: no stack file stacks/Pulumi.{stack}.yaml in {root} for the selected stack {stack}")
    side = render_stack(root, stack)
    if side.graph is None:
        problems = "\n".join(d.format() for d in side.diagnostics if d.severity.value == "error")
        raise EntryError(f"amlctl: the manifests do not render for stack {stack}:\n{problems}")
    return _placed(root, stack, _settled(root, stack, side.graph))


def _settled(root: Path, stack: str, graph: Graph) -> Graph:
    from controller import runs
    if not runs.runs_of(graph):
        return graph
    from controller.engine.state import sim_dir
    from controller.runs import target
    settled = runs.settle(graph, runs.read(graph, target.reader(graph, sim_dir(root, stack))), None)
    if settled.waiting:
        # What serves a run's model takes the model's id once the run has completed. Plain Pulumi
        # knows nothing of the last apply, so what still waits cannot be kept as it was: refuse
        # rather than let the engine delete a serving endpoint.
        raise EntryError("amlctl: " + "; ".join(w.describe() for w in settled.waiting)
                         + ": run `amlctl apply`, which keeps what waits as last applied")
    return settled.graph


def _placed(root: Path, stack: str, graph: Graph) -> Graph:
    from controller.engine import rollouts
    if not rollouts.has_endpoints(graph):
        return graph
    # Deployments go by the names their releases gave them, kept in the stack's state
    # (controller.rollout). Plain Pulumi keeps every release where it stands: it never starts or
    # advances one (that is `amlctl apply` and `amlctl rollout advance`).
    from controller.rollout.overlay import overlay
    ours, engines = os.environ.get("AMLCTL_BACKEND_URL", ""), os.environ.get("PULUMI_BACKEND_URL", "")
    if engines and ours != engines:
        # The records must come from the state this update writes: amlctl's own default (a file
        # backend in .amlctl/) would read none, and every release would start over.
        raise EntryError(f"amlctl: PULUMI_BACKEND_URL is {engines!r} but AMLCTL_BACKEND_URL is {ours or 'not set'!s}: "
                         "set AMLCTL_BACKEND_URL to the same URL (this stack's endpoints are released by amlctl, "
                         "which reads where each release stands from the stack's state)")
    records = rollouts.offline_records(root, stack)
    if records is None:
        records = _records_from_backend(root, stack)
    return overlay(graph, records, dt.datetime.now(dt.timezone.utc), advance=False).graph


def _records_from_backend(root: Path, stack: str):
    """The release records from a backend that cannot be read offline (azblob://, Pulumi Cloud):
    the stack's last checkpoint, exported by the engine (`pulumi stack export` reads without the
    lock the running update holds) from AMLCTL_BACKEND_URL, with the runner's own credentials."""
    from controller.engine import rollouts
    from controller.engine.binary import EngineMissing
    try:
        return rollouts.records(root, stack)
    except EngineMissing as exc:
        raise EntryError(f"amlctl: this stack's endpoints are released by amlctl, which keeps where each release "
                         f"stands in the stack's state; reading it needs the Pulumi CLI: {exc}") from None
    except Exception as exc:  # the backend's own failure, said in its words, never a traceback
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise EntryError(f"amlctl: cannot read where this stack's releases stand from AMLCTL_BACKEND_URL "
                         f"({first}); set it to the backend the engine uses (PULUMI_BACKEND_URL)") from None


def register(graph: Graph, root: Path, sim: Path, tree: Path | None = None) -> dict[str, Any]:
    """Register the graph with the engine: the local target's simulated classes (their records
    under `sim`), else pulumi-azure-native with the stack's provider. `tree` is where uploaded
    files are read (a past revision's checkout, for drift); default the repository."""
    from controller.program import azure_provider, build
    if graph.settings.get("target", "azure") == "local":
        from controller.engine import local
        sub = graph.settings.get("subscriptionId")
        return build(graph, tree or root, classes=local.classes(sim, subscription=sub),
                     client_config=lambda f: local.client_config(sub)[f], secret_reader=local.key_vault_secret,
                     latest_reader=local.latest_reader(sim))
    return build(graph, tree or root, provider=azure_provider(graph))


def main(cwd: Path | None = None, stack: str | None = None) -> dict[str, Any]:
    """Run the estate's program for the engine's stack, from the repository at `cwd` (default the
    working directory). The same function as `__main__.py` and an Automation API inline program."""
    from controller.engine.state import StateError, sim_dir
    root = repository(cwd or Path.cwd())
    stack = stack or pulumi.get_stack()
    try:
        sim = sim_dir(root, stack)
    except StateError as exc:
        raise EntryError(f"amlctl: {exc}") from None
    return register(graph_for(root, stack), root, sim)
