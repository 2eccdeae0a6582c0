"""Where run outcomes come from: the local simulation's documents, or Azure ML itself.

    reader(graph, sim_dir) -> reader(run resource, marker body) -> Outcome

On Azure the deploying identity asks Azure ML, as `az ml job show` and `az ml model list` do:
MLClient.jobs.get for the status, the versions of the registered model whose `job_name` is the
run, and the workspace's GUID for serverless model URIs. It needs read access to the workspace
(any role that deploys it has it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from controller.render.graph import Graph, Resource
from controller.runs import NOT_STARTED, Outcome

Reader = Callable[[Resource, Mapping[str, Any]], Outcome]


def run_name(r: Resource) -> str:
    """The Azure ML job name of a run resource (a generic resource's or a typed Job's)."""
    return str(r.inputs.get("resourceName") or r.inputs.get("id"))


def run_id(r: Resource, settings: Mapping[str, Any]) -> str:
    """The ARM id of a run resource."""
    rg = f"/subscriptions/{settings.get('subscriptionId')}/resourceGroups/{r.inputs.get('resourceGroupName')}"
    if r.type == "azure-native:resources:Resource":
        i = r.inputs
        parent = f"{i['resourceProviderNamespace']}/{i['parentResourcePath']}"
        return f"{rg}/providers/{parent}/{i['resourceType']}/{i['resourceName']}"
    workspace = r.inputs.get("workspaceName")
    return f"{rg}/providers/Microsoft.MachineLearningServices/workspaces/{workspace}/jobs/{run_name(r)}"


def reader(graph: Graph, sim_dir: Path) -> Reader:
    if graph.settings.get("target") == "local":
        from controller.engine import local_runs
        return lambda r, body: local_runs.outcome(sim_dir, run_id(r, graph.settings), body["asset"])
    return _azure(graph)


def _azure(graph: Graph) -> Reader:  # pragma: no cover - needs an Azure subscription (see the runbook)
    clients: dict[str, Any] = {}

    def client(workspace: str) -> Any:
        if workspace not in clients:
            from azure.ai.ml import MLClient
            from azure.identity import DefaultAzureCredential
            clients[workspace] = MLClient(DefaultAzureCredential(), graph.settings.get("subscriptionId"),
                                          graph.settings.get("resourceGroup"), workspace)
        return clients[workspace]

    def read(r: Resource, body: Mapping[str, Any]) -> Outcome:
        from azure.core.exceptions import ResourceNotFoundError
        ml = client(str(body["workspace"]))
        name = run_name(r)
        try:
            job = ml.jobs.get(name)
        except ResourceNotFoundError:
            return Outcome(NOT_STARTED)
        if job.status != "Completed":
            return Outcome(str(job.status))
        versions = [m.version for m in ml.models.list(name=str(body["asset"])) if m.job_name == name]
        if not versions:  # completed, but the service has not registered the model yet
            return Outcome("Registering")
        workspace_id = ml.workspaces.get(str(body["workspace"]))._workspace_id
        return Outcome("Completed", max(versions, key=_version_key), workspace_id)
    return read


def _version_key(v: str) -> tuple:
    return (0, int(v), "") if str(v).isdigit() else (1, 0, str(v))
