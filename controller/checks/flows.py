"""Prompt flows as pipeline steps: which step files are flows, where their folders are, and what
azure-ai-ml would refuse when MLClient registers them, so that validate reports it, not a render.

A pipeline step runs a prompt flow when its `component:` names a file whose `$schema` is prompt
flow's (azure-ai-ml's Component._is_flow): the flow definition itself (`./basic/flow.dag.yaml`), or
a Run file (`./run.yml`, whose `flow:` names the flow's folder or definition). azure-ai-ml loads it
as a FlowComponent (azure/ai/ml/entities/_component/flow.py, type `promptflow_parallel`) whose code
is the flow's folder. Its rules, which this module holds for validate and render alike:

  folder      the definition's folder (FlowComponent._get_flow_definition): a Run's `flow:` is a
              folder holding flow.dag.yaml, or a flow file; relative to the Run file
  flow.tools  MLClient registers the folder only when it holds .promptflow/flow.tools.json
              (FlowComponent._try_build_local_code; `pf flow validate` writes it)
  step        a flow runs as a parallel step: `type: parallel`, or no type (azure-ai-ml takes the
              node type from the component); any other type is refused by azure-ai-ml's schema

What amlctl does not render yet is refused here too (R001): `additional_includes` (azure-ai-ml
copies them into the uploaded folder; amlctl uploads the folder as it is) and an `azureml:`
override of the flow's `environment` (a reference in a file that is not a manifest, so nothing
would resolve it). The flow's files are YAML sent to Azure (the definition is uploaded, a Run's
environment variables become the component's), so a credential in them is M007 with its line.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from controller import files
from controller.checks import refs, secrets
from controller.diagnostics import Diagnostic, error
from controller.manifests.discover import inside
from controller.manifests.loader import read_file
from controller.manifests.model import Manifest
from controller.manifests.yamlsafe import Document

# azure-ai-ml's SchemaUrl.PROMPTFLOW_FLOW and PROMPTFLOW_RUN (azure/ai/ml/constants/_common.py).
FLOW_SCHEMA = "https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json"
RUN_SCHEMA = "https://azuremlschemas.azureedge.net/promptflow/latest/Run.schema.json"
DEFINITION = "flow.dag.yaml"  # the file a flow folder is taken to hold
TOOLS = ".promptflow/flow.tools.json"
STEP_TYPES = (None, "parallel")


@dataclass(frozen=True)
class Flow:
    """A step's prompt flow, found as azure-ai-ml finds it (paths repository-relative)."""

    step: str
    file: str  # the file the step names: the definition, or a Run file
    folder: str  # the flow's folder: the component's code, uploaded
    definition: str  # the definition's file name inside the folder
    docs: tuple[Document, ...]  # the Run file (if any), then the definition, as read


@dataclass(frozen=True)
class Problem:
    """Why a step's flow cannot be registered, where (file, line, column) and under which code."""

    path: str
    line: int
    col: int
    code: str
    message: str


def steps(spec: Any) -> Iterator[tuple[str, str]]:
    """(step, local file) of every step whose `component:` is a local file, by step name."""
    jobs = spec.get("jobs") if isinstance(spec, dict) else None
    for name, step in sorted(jobs.items()) if isinstance(jobs, dict) else ():
        value = step.get("component") if isinstance(step, dict) else None
        if isinstance(value, str) and refs.local_path(value) is not None:
            yield str(name), value


def repo_path(m: Manifest, value: str) -> str:
    """A manifest's local path as a repository-relative POSIX path."""
    local = refs.local_path(value) or value
    return posixpath.normpath(posixpath.join(posixpath.dirname(m.path), local))


def read(root: Path, shown: str) -> Document | None:
    """The first document of a repository file, read as manifests are (the safe loader, its limits,
    nothing outside the repository); None when it cannot be read (its path check says why)."""
    docs, diags = read_file(root / shown, shown, root=root)
    return docs[0] if docs and not diags else None


def is_flow(doc: Document | None) -> bool:
    return doc is not None and isinstance(doc.data, dict) and doc.data.get("$schema") in (FLOW_SCHEMA, RUN_SCHEMA)


def flow_file(root: Path, m: Manifest, value: str) -> bool:
    """Whether a step's local `component:` file is a prompt flow (or a Run of one)."""
    shown = repo_path(m, value)
    return inside(root / shown, root) and (root / shown).is_file() and is_flow(read(root, shown))


def locate(root: Path, m: Manifest, step: str, value: str) -> Flow | Problem | None:
    """The flow a step's `component:` file stands for; None when the file is no flow; a Problem
    when azure-ai-ml could not find the flow's folder or definition."""
    shown = repo_path(m, value)
    if not (inside(root / shown, root) and (root / shown).is_file()):
        return None
    doc = read(root, shown)
    if not is_flow(doc):
        return None
    assert doc is not None
    if doc.data.get("$schema") == FLOW_SCHEMA:
        return Flow(step, shown, posixpath.dirname(shown), posixpath.basename(shown), (doc,))
    target = doc.data.get("flow")
    line, col = doc.positions.at(("flow",)) if "flow" in doc.data else doc.positions.at(())
    if not isinstance(target, str) or not target:
        return Problem(shown, line, col, "S005", "flow: a Run file names its flow (the flow's folder, or its "
                       "flow.dag.yaml): azure-ai-ml requires it")
    folder = posixpath.normpath(posixpath.join(posixpath.dirname(shown), refs.local_path(target) or target))
    if not inside(root / folder, root):
        return Problem(shown, line, col, "Y011", f"flow: {target!r} leads outside the repository")
    full = root / folder
    if full.is_dir() and (full / DEFINITION).is_file():
        definition, name = folder, DEFINITION
    elif full.is_file():
        definition, name = posixpath.dirname(folder), posixpath.basename(folder)
    else:
        return Problem(shown, line, col, "M006", f"flow: {target!r} is neither a folder holding {DEFINITION} nor "
                       f"a flow file (looked for {folder})")
    flow_doc = read(root, posixpath.join(definition, name))
    return Flow(step, shown, definition, name, (doc,) + ((flow_doc,) if flow_doc is not None else ()))


def problems(root: Path, m: Manifest, flow: Flow) -> list[Problem]:
    """What azure-ai-ml, MLClient or amlctl's render would refuse about a step's flow."""
    out: list[Problem] = []
    step = m.spec["jobs"][flow.step]
    at = m.where(("jobs", flow.step, "component"))
    kind = step.get("type")
    if kind not in STEP_TYPES:
        where = m.where(("jobs", flow.step, "type"))
        out.append(Problem(where.path, where.line, where.col, "S003", f"jobs.{flow.step}.type: a prompt flow runs "
                           f"as a parallel step (type: parallel), not {kind!r}"))
    if not (root / flow.folder / TOOLS).is_file():
        out.append(Problem(at.path, at.line, at.col, "M006", f"jobs.{flow.step}.component: the prompt flow in "
                           f"{flow.folder} has no {TOOLS}, and MLClient registers a flow only with it: run "
                           f"'pf flow validate --source {flow.folder}' and commit the file"))
    for doc in flow.docs:
        data = doc.data if isinstance(doc.data, dict) else {}
        if data.get("additional_includes"):
            line, col = doc.positions.at(("additional_includes",))
            out.append(Problem(doc.path, line, col, "R001", "additional_includes: amlctl does not merge additional "
                               "includes into the flow's folder; copy them in (pf flow build does) and remove the "
                               "field"))
        override = data.get("azureml")
        if isinstance(override, dict) and "environment" in override:
            line, col = doc.positions.at(("azureml", "environment"))
            out.append(Problem(doc.path, line, col, "R001", "azureml.environment: amlctl does not render an "
                               "environment override of a prompt flow yet (nothing would resolve a reference "
                               "written here); remove it"))
        for found in secrets.scan(data, kind="flow"):
            line, col = doc.positions.at(found.path)
            out.append(Problem(doc.path, line, col, "M007", f"{'.'.join(map(str, found.path))}: {found.what}; "
                               f"take it out (this file is sent to Azure as written): "
                               f"{found.hint or secrets.environment_hint('flow')}"))
    return out


def check(m: Manifest, options: Any, result: Any) -> None:
    """validate's checks of the prompt flows a Pipeline's steps (or a pipeline Component's) run:
    their problems into `result.diagnostics`, their folders into `result.referenced_files` (a flow
    folder a Run file names is data, as the files manifests name are)."""
    if m.kind not in ("Pipeline", "Component") or options.skip_path_checks:
        return
    root = options.root
    for step, value in steps(m.spec):
        found = locate(root, m, step, value)
        if found is None:
            continue
        if isinstance(found, Problem):
            result.diagnostics.append(_diagnostic(found, m))
            continue
        result.referenced_files.add(found.folder)
        refused = files.refusal(root / found.folder, options.root, options.walked)
        if refused is not None:
            at = m.where(("jobs", step, "component"))
            result.diagnostics.append(error(at.path, at.line, at.col, refused.code, f"jobs.{step}.component: "
                                            f"{refused.path}: {refused.message}", m.subject))
            continue
        if m.kind == "Component":
            at = m.where(("jobs", step, "component"))
            result.diagnostics.append(error(at.path, at.line, at.col, "R004", nested(step), m.subject))
            continue
        result.diagnostics.extend(_diagnostic(p, m) for p in problems(root, m, found))


def nested(step: str) -> str:
    """Why a flow inside a pipeline component is refused (validate and render say the same)."""
    return (f"jobs.{step}.component: a prompt flow as a step of a pipeline component is not rendered yet; "
            "run it as a step of a Pipeline")


def _diagnostic(p: Problem, m: Manifest) -> Diagnostic:
    return error(p.path, p.line, p.col, p.code, p.message, m.subject)
