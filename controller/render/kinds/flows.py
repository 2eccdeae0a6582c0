"""A prompt flow as a pipeline step, rendered as MLClient registers it before it submits the pipeline.

A step `{type: parallel, component: ./basic/flow.dag.yaml}` (or `component: ./run.yml`, a Run file
whose `flow:` names the folder) runs a prompt flow. azure-ai-ml loads the file as a FlowComponent
(azure/ai/ml/entities/_component/flow.py, type `promptflow_parallel`) whose code is the flow's folder
(controller.checks.flows finds it as azure-ai-ml does). MLClient.jobs.create_or_update then, for each
such node (ComponentOperations.create_or_update(component, is_anonymous=True), through the pipeline's
CachedNodeResolver):

  1. uploads the folder and registers it as a code asset (_try_resolve_code_for_component), whose ARM
     id it fills back as the component's code (FlowComponent._fill_back_code_value);
  2. builds the ComponentVersion (_to_rest_object: componentSpec with `code` and `flow_file_name`)
     and replaces `flow_file_name` by `flow_definition_uri`, the code's blob URI (port removed) plus
     the file name (ComponentOperations._update_flow_rest_object);
  3. registers it as `azureml_anonymous`, version `_get_anonymous_hash()`, and the node's
     componentId is that version's ARM id.

amlctl does the same: the folder is uploaded and registered by the code asset rule every local code
folder follows (controller.render.kinds.code_version, content-named), the ComponentVersion body is
azure-ai-ml's own (built here, on the FlowComponent that load_job made, inside the pipeline's cached
compilation), and it is an anonymous component version of the graph, as an inline step's is
(controller.render.kinds.pipelines). One difference, on purpose: the version. FlowComponent keeps its
code in `_code_arm_id`, which its schema does not dump, so azure-ai-ml's `_get_anonymous_hash()` is
the same for two different flows, or two revisions of one, with the same metadata: Azure would keep
the first and the run would use stale code, and amlctl's append-only version would change in place.
amlctl takes azure-ai-ml's hash (hash_dict) of the body it sends instead, code and flow URI included,
so a changed flow is a new version and an unchanged one the same.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import asdict, dataclass
from typing import Any

from controller.checks import flows as F
from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.render.context import Context, RenderError
from controller.render.kinds import anonymous, code_version


@dataclass(frozen=True)
class FlowCode:
    """What a step's flow compiles with: the code version amlctl registers for its folder."""

    arm_id: str  # the code version's ARM id, the componentSpec's `code`
    uri: str  # the code's blob URI, the base of `flow_definition_uri`
    file: str  # sha256 of the file the step names (a Run file may lie outside the folder)


def is_flow_step(m: Manifest, ctx: Context, value: Any) -> bool:
    """Whether a step's local `component:` value names a prompt flow (or a Run of one)."""
    return isinstance(value, str) and F.flow_file(ctx.root, m, value)


def flow_steps(m: Manifest, ctx: Context, spec: dict[str, Any]) -> set[tuple]:
    """The spec paths (`jobs.<step>.component`) of the steps that run a prompt flow."""
    return {("jobs", step, "component") for step, value in F.steps(spec) if is_flow_step(m, ctx, value)}


def register(m: Manifest, spec: dict[str, Any], ctx: Context, deps: set[str], at: tuple = ()) -> dict[str, dict]:
    """Upload and register the folder of every prompt flow a step of `spec` runs (the steps' own
    problems are validate's: controller.checks.flows); by step, what compile_pipeline needs."""
    out: dict[str, dict] = {}
    for step, value in F.steps(spec):
        path = at + ("jobs", step, "component")
        found = F.locate(ctx.root, m, step, value)
        if found is None:
            continue
        if isinstance(found, F.Problem):
            raise _refusal(found, m, ctx)
        problems = F.problems(ctx.root, m, found)
        if problems:
            raise _refusal(problems[0], m, ctx)
        own: set[str] = set()
        relative = posixpath.relpath(found.folder, posixpath.dirname(m.path) or ".")
        arm_id = code_version(m, relative, ctx, own, path)
        [node] = [d for d in own if "/code/" in d]
        deps |= own
        uri = ctx.resources[node].inputs["properties"]["codeUri"]
        out[step] = asdict(FlowCode(arm_id, uri, ctx.file_hash(found.file)))
    return out


def _refusal(p: F.Problem, m: Manifest, ctx: Context) -> RenderError:
    return RenderError(Diagnostic(p.path, p.line, p.col, p.code, Severity.ERROR, p.message, m.subject, ctx.stack.name))


def nested(m: Manifest, ctx: Context, value: str, path: tuple) -> None:
    """A flow as a step of a pipeline component: refused (R004), as validate refuses it."""
    if is_flow_step(m, ctx, value):
        raise ctx.error(m, path, "R004", F.nested(str(path[-2])))


def component_version(component: Any, code: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(version, ComponentVersion properties) of a FlowComponent azure-ai-ml loaded, registered
    anonymously with `code` (a FlowCode as a dict), as MLClient registers it (see the module's doc)."""
    from azure.ai.ml._utils.utils import hash_dict
    component._is_anonymous = True
    component._fill_back_code_value(code["arm_id"])
    rest = component._to_rest_object().as_dict()["properties"]
    spec = rest["componentSpec"]
    # ComponentOperations._update_flow_rest_object: the code's URI without a port, then the file.
    spec["flow_definition_uri"] = f"{re.sub(r':[0-9]+/', '/', code['uri'])}/{spec.pop('flow_file_name')}"
    version = hash_dict(spec, keys_to_omit=["name", "id", "version"])
    spec["name"], spec["version"] = anonymous.ANONYMOUS_COMPONENT, version
    rest["isAnonymous"] = True
    return version, rest


def flow_class() -> type:
    from azure.ai.ml.entities._component.flow import FlowComponent
    return FlowComponent

