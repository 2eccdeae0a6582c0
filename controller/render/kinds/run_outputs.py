"""The model a run registers, as a value: `{output_of: FineTuningJob/<name>, output: registered_model}`.

The service registers that model when the run completes and assigns its version, so no render can
know it. A reference renders as a marker naming the run (the graph resource of the run the
manifest's current content makes) and what form the value takes:

  {"$runOutput": {"run": <run's graph name>, "of": "FineTuningJob/<name>", "output": "registered_model",
                  "asset": <model name>, "workspace": <workspace>, "form": "arm" | "uri"}}

"arm" is the model version's ARM id (what a deployment's `model` takes); "uri" is
`azureml://locations/<region>/workspaces/<workspace id>/models/<name>/versions/<v>` (a serverless
endpoint's `model_id`, the form Azure's fine-tuning samples use). controller.runs replaces the
marker when the run has completed, before the engine sees the graph; until then the resource
waits (it keeps what was last applied, or is not created yet) and a later apply moves it on.

A changed job is a new run, so the marker changes with it: plan shows every dependent of a changed
job as a change that waits for the new run.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from controller import schemas as S
from controller.checks import runs as checks
from controller.manifests.model import Manifest
from controller.render.context import Context
from controller.render.graph import Resource

MARKER = "$runOutput"


def marker(m: Manifest, ctx: Context, path: tuple, value: dict[str, Any], form: str) -> dict[str, Any]:
    """The marker for a reference of manifest `m` at `path` (validate has checked it; this repeats
    the rule for renders of unvalidated input)."""
    ref = checks.parse(value)
    target = ctx.find(ref.kind, ref.name, m.workspace)
    if target is None:
        raise ctx.error(m, path, "R004", f"{S.dotted(path)}.output_of: no {ref.kind} manifest {ref.name!r} in "
                        f"workspace {m.workspace!r}")
    asset, why = checks.registered_asset(target, ref.output)
    if asset is None:
        raise ctx.error(m, path, "R004", f"{S.dotted(path)}: {why}")
    return {MARKER: {"run": "", "of": target.subject, "output": ref.output, "asset": asset,
                     "workspace": target.workspace or m.workspace or "", "form": form}}


def link(resources: dict[str, Resource], ctx: Context) -> None:
    """Fill each marker's `run` with the graph name of its manifest's run, once every manifest is
    rendered (a run may render after what refers to it)."""
    runs = {r.subject: r.name for r in resources.values() if "/runs/" in r.name}
    for name, r in list(resources.items()):
        found: list[str] = []

        def fill(v: Any) -> Any:
            if isinstance(v, dict):
                if set(v) == {MARKER}:
                    body = dict(v[MARKER])
                    run = runs.get(body["of"])
                    if run is None:  # the run did not render: its own error is reported
                        return v
                    body["run"] = run
                    found.append(run)
                    return {MARKER: body}
                return {k: fill(x) for k, x in v.items()}
            if isinstance(v, list):
                return [fill(x) for x in v]
            return v

        inputs = fill(dict(r.inputs))
        if found:
            resources[name] = replace(r, inputs=inputs)


def markers(value: Any) -> list[dict[str, Any]]:
    """The bodies of every run-output marker in an input value."""
    if isinstance(value, dict):
        if set(value) == {MARKER}:
            return [value[MARKER]]
        return [b for v in value.values() for b in markers(v)]
    if isinstance(value, list):
        return [b for v in value for b in markers(v)]
    return []
