"""Fidelity of endpoints and deployments (online and batch) against azure-ai-ml.

Endpoints: azure-ai-ml sends an online endpoint's traffic (and a batch endpoint's default
deployment) in the endpoint's body; amlctl sets them in a separate EndpointTraffic step after the
deployments. The comparison folds that step back into the endpoint's properties, so the values
are still compared field by field; what remains different is listed in known-endpoints.yaml.

Deployments: amlctl names them under their endpoint, so the main resource is found by its
inputs (workspace, endpoint, deployment name) rather than by resource_name().

The corpus prompt flow deployment (generative-ai/promptflow/deploy-flow) is also compared as one
estate (GROUPS): the flow folder registered by model.yaml, the endpoint, and the deployment with its
inline environment, rendered together as `amlctl render` renders them. Beside the deployment and the
Model version, the anonymous Environment version amlctl registers for the inline environment is held
against the deployment's Environment entity (`_to_rest_object()`, and the name and version azure-ai-ml
gives it), and the deployment's environmentId against the id MLClient sends once it has registered
that version (`azureml:<name>:<version>`, which the harness compares with an ARM id).
"""
from __future__ import annotations

import copy
import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fidelity as F  # noqa: E402
from controller.manifests.model import Manifest  # noqa: E402
from controller.render.context import ML, resource_name  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

TRAFFIC = "amlctl:azureml:EndpointTraffic"


def _online_endpoint_rest(entity: Any, m: Manifest) -> Any:
    return entity._to_rest_online_endpoint(location=F.location_of(m))


def _batch_endpoint_rest(entity: Any, m: Manifest) -> Any:
    return entity._to_rest_batch_endpoint(location=F.location_of(m))


def _endpoint_with_step(m: Manifest, graph: dict[str, Resource]) -> Resource | None:
    """The endpoint resource, with its EndpointTraffic step folded back into its properties."""
    endpoint = graph.get(resource_name(m))
    step = graph.get(f"{resource_name(m)}/traffic")
    if endpoint is None or step is None or step.type != TRAFFIC:
        return endpoint
    inputs = copy.deepcopy(dict(endpoint.inputs))
    props = inputs.setdefault("properties", {})
    if "traffic" in step.inputs:
        props["traffic"] = step.inputs["traffic"]
    if "mirrorTraffic" in step.inputs:
        props["mirrorTraffic"] = step.inputs["mirrorTraffic"]
    if "defaultDeployment" in step.inputs:
        props["defaults"] = {"deploymentName": step.inputs["defaultDeployment"]}
    return replace(endpoint, inputs=inputs)


def _deployment(m: Manifest, graph: dict[str, Resource]) -> Resource | None:
    kind = ML + m.kind
    for r in graph.values():
        if (r.type == kind and r.inputs.get("deploymentName") == m.name
                and r.inputs.get("endpointName") == m.spec.get("endpoint_name")
                and r.inputs.get("workspaceName") == (m.workspace or "")):
            return r
    return None


def _load_batch_deployment(source: Any, **kwargs: Any) -> Any:
    """The loader az ml uses for the form at hand: the pipeline component form and the model form
    with `settings` have their own (load_batch_deployment takes only the older top-level form)."""
    from azure.ai.ml.entities._load_functions import (load_batch_deployment, load_model_batch_deployment,
                                                      load_pipeline_component_batch_deployment)
    import yaml
    text = source.read()
    body = yaml.safe_load(text) or {}
    if body.get("type") == "pipeline":
        loader = load_pipeline_component_batch_deployment
    elif "settings" in body:
        loader = load_model_batch_deployment
    else:
        loader = load_batch_deployment
    return loader(io.StringIO(text), **kwargs)


# -- the prompt flow deployment, as one estate --------------------------------------------------------
PROMPT_FLOW = tuple(f"generative-ai/promptflow/deploy-flow/{name}.yaml"
                    for name in ("model", "endpoint-system-identity", "deployment"))


def _deployment_as_sent(entity: Any, m: Manifest) -> Any:
    """ManagedOnlineDeployment._to_rest_object(location=...), with the environment MLClient registers
    first: its body then names the anonymous version (azure-ai-ml's body holds no environmentId yet)."""
    body = F.serialise(entity._to_rest_object(location=F.location_of(m)))
    env = entity.environment
    if not isinstance(env, str) and getattr(env, "name", None) and getattr(env, "version", None):
        body.setdefault("properties", {})["environmentId"] = f"azureml:{env.name}:{env.version}"
    return body


def _environment_as_sent(entity: Any, m: Manifest) -> Any:
    """Environment._to_rest_object() of the deployment's inline environment, with the name and version
    azure-ai-ml gives it (the version is the anonymous hash; the REST body itself carries neither)."""
    body = json.loads(json.dumps(F.serialise(entity._to_rest_object()), default=str))
    return {"name": entity.name, "version": entity.version, **body}


def _environment_version(r: Resource) -> dict[str, Any]:
    return {"name": r.inputs["name"], "version": r.inputs["version"], "properties": r.inputs["properties"]}


def check_promptflow() -> list[F.Outcome]:
    """The prompt flow deployment, its Model version and its inline Environment version, rendered
    together and compared with what azure-ai-ml sends for each; and the deployment once more as the
    README writes it, without PRT_CONFIG_OVERRIDE (amlctl generates it; azure-ai-ml sends no variable)."""
    pasted = _promptflow_estate(lambda m: m, "")
    left_out = _promptflow_estate(_without_override, " (without PRT_CONFIG_OVERRIDE)")
    return pasted + [o for o in left_out if o.kind == "OnlineDeployment"]


def _without_override(m: Manifest) -> Manifest:
    if m.kind != "OnlineDeployment":
        return m
    return replace(m, spec={k: v for k, v in m.spec.items() if k != "environment_variables"})


def _promptflow_estate(edit: Any, label: str) -> list[F.Outcome]:
    from controller import schemas as S
    from controller.manifests.loader import load_files
    from controller.render import render
    schemas = S.load()
    loaded = load_files([(F.CORPUS / p, f"{F.CORPUS.name}/{p}") for p in PROMPT_FLOW], None, schemas)
    manifests = [edit(F._in_workspace(m)) for m in loaded.manifests] + F._fidelity_workspace(schemas)
    rendered = render(manifests, F._stack(), root=F.CORPUS.parent, schemas=schemas, allow_missing_files=True)
    graph = rendered.graph.by_name() if rendered.graph else {}
    known = F.load_known()
    out = [F._one(m, graph, F.CORPUS.parent, rendered) for m in manifests if m.kind == "Model"]
    deployment = next(m for m in manifests if m.kind == "OnlineDeployment")
    spec = F.KindSpec("load_online_deployment", _deployment_as_sent, _deployment, F._wrapped)
    outcome = F.Outcome(deployment.path, deployment.kind, deployment.name + label)
    resource = _deployment(deployment, graph)
    if resource is None:
        outcome.error = "amlctl: " + "; ".join(d.message for d in rendered.diagnostics if d.severity.value == "error")
        return out + [outcome]
    entity = F._load_entity(spec, deployment, F.CORPUS.parent)
    F.compare(deployment, resource, spec, entity, known, outcome)
    # The inline environment: amlctl's anonymous version is the one the deployment's environmentId names.
    env_id = resource.inputs["properties"]["environmentId"]
    name, _, version = env_id.rsplit("/", 3)[-3:]
    env = next(r for r in graph.values() if r.type == ML + "EnvironmentVersion"
               and r.inputs["name"] == name and r.inputs["version"] == version)
    env_outcome = F.Outcome(deployment.path, "Environment", name)
    F.compare(replace(deployment, kind="Environment"), env,
              F.KindSpec("load_environment", _environment_as_sent, lambda m, g: env, _environment_version),
              entity.environment, known, env_outcome)
    return out + [outcome, env_outcome]


GROUPS = [check_promptflow]

KINDS = {
    "OnlineEndpoint": F.KindSpec("load_online_endpoint", _online_endpoint_rest, _endpoint_with_step, F._wrapped),
    "BatchEndpoint": F.KindSpec("load_batch_endpoint", _batch_endpoint_rest, _endpoint_with_step, F._wrapped),
    "OnlineDeployment": F.KindSpec("load_online_deployment", F._located, _deployment, F._wrapped),
    "BatchDeployment": F.KindSpec(_load_batch_deployment, F._located, _deployment, F._wrapped),
}
