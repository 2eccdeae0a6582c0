"""Fidelity of endpoints and deployments (online and batch) against azure-ai-ml.

Endpoints: azure-ai-ml sends an online endpoint's traffic (and a batch endpoint's default
deployment) in the endpoint's body; amlctl sets them in a separate EndpointTraffic step after the
deployments. The comparison folds that step back into the endpoint's properties, so the values
are still compared field by field; what remains different is listed in known-endpoints.yaml.

Deployments: amlctl names them under their endpoint, so the main resource is found by its
inputs (workspace, endpoint, deployment name) rather than by resource_name().
"""
from __future__ import annotations

import copy
import io
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
    return entity._to_rest_online_endpoint(location=F.LOCATION)


def _batch_endpoint_rest(entity: Any, m: Manifest) -> Any:
    return entity._to_rest_batch_endpoint(location=F.LOCATION)


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


KINDS = {
    "OnlineEndpoint": F.KindSpec("load_online_endpoint", _online_endpoint_rest, _endpoint_with_step, F._wrapped),
    "BatchEndpoint": F.KindSpec("load_batch_endpoint", _batch_endpoint_rest, _endpoint_with_step, F._wrapped),
    "OnlineDeployment": F.KindSpec("load_online_deployment", F._located, _deployment, F._wrapped),
    "BatchDeployment": F.KindSpec(_load_batch_deployment, F._located, _deployment, F._wrapped),
}
