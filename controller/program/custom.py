"""amlctl's own resource types, for the steps azure-native has no resource for.

`amlctl:azureml:EndpointTraffic`: an endpoint's traffic split (online) or default deployment
(batch), set after the deployments exist, so one apply creates endpoint, deployments, then
traffic. It is a Pulumi dynamic resource that uses azure-ai-ml's MLClient, which knows how to
update an endpoint's traffic without touching the rest of it.

`amlctl:azureml:SystemDatastore`: a change to a datastore Azure ML made with the workspace
(`workspaceblobstore`, `workspacefilestore`), such as mlops-v2's switch to identity-based access.
The datastore exists before the first apply, so a machinelearningservices.Datastore would fail its
create (azure-native refuses to create what exists, and an import must match what is there). The
step PUTs the datastore's ARM body, as `az ml datastore create` does; removing it changes nothing
(Azure ML owns the datastore).
"""
from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic


def _client(props: dict[str, Any]):
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential
    sub = props["endpointId"].split("/")[2]
    return MLClient(DefaultAzureCredential(), sub, props["resourceGroupName"], props["workspaceName"])


def _apply(props: dict[str, Any]) -> None:
    client = _client(props)
    if props.get("kind") == "batch":
        endpoint = client.batch_endpoints.get(props["endpointName"])
        endpoint.defaults.deployment_name = props["defaultDeployment"]
        client.batch_endpoints.begin_create_or_update(endpoint).result()
        return
    endpoint = client.online_endpoints.get(props["endpointName"])
    endpoint.traffic = {k: int(v) for k, v in (props.get("traffic") or {}).items()}
    endpoint.mirror_traffic = {k: int(v) for k, v in (props.get("mirrorTraffic") or {}).items()}
    client.online_endpoints.begin_create_or_update(endpoint).result()


SPLIT = ("traffic", "mirrorTraffic", "defaultDeployment")
# The record of the endpoint's releases (controller.rollout) rides on this step: the engine writes
# it into the stack's state with the traffic it goes with. It is never sent to Azure.
RECORD = ("rolloutState", "rolloutPolicy")


def _no_traffic(props: dict[str, Any]) -> None:
    """Every deployment of an online endpoint at 0%: Azure ML deletes no deployment that takes
    traffic, and the engine deletes this step before the deployments it names."""
    from azure.core.exceptions import ResourceNotFoundError
    if props.get("kind") == "batch":
        return  # a batch endpoint's default is only replaced, never unset
    client = _client(props)
    try:
        endpoint = client.online_endpoints.get(props["endpointName"])
    except ResourceNotFoundError:
        return
    endpoint.traffic = {k: 0 for k in (endpoint.traffic or {})}
    endpoint.mirror_traffic = {k: 0 for k in (endpoint.mirror_traffic or {})}
    client.online_endpoints.begin_create_or_update(endpoint).result()


class TrafficProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        _apply(props)
        return dynamic.CreateResult(id_=props["endpointId"] + "/traffic", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [k for k in SPLIT + RECORD if olds.get(k) != news.get(k)]
        return dynamic.DiffResult(changes=bool(changed), replaces=["endpointId"] if olds.get("endpointId") != news.get("endpointId") else [])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        if any(olds.get(k) != news.get(k) for k in SPLIT):  # a record-only change is the state's alone
            _apply(news)
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _no_traffic(props)


DATASTORE_API = "2024-10-01"


def _put_datastore(props: dict[str, Any]) -> None:
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
    from azure.core.rest import HttpRequest
    from azure.identity import DefaultAzureCredential
    endpoint = props.get("armEndpoint") or "https://management.azure.com"
    client = PipelineClient(base_url=endpoint, policies=[
        RetryPolicy(), BearerTokenCredentialPolicy(DefaultAzureCredential(), endpoint.rstrip("/") + "/.default")])
    request = HttpRequest("PUT", endpoint.rstrip("/") + props["datastoreId"], params={"api-version": DATASTORE_API},
                          json={"properties": props["properties"]})
    response = client.send_request(request)
    if response.status_code not in (200, 201):
        try:
            why = response.json().get("error", {}).get("message", "")
        except ValueError:
            why = ""
        raise RuntimeError(f"PUT {props['datastoreId']}: HTTP {response.status_code} {why}".strip())


class SystemDatastoreProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        _put_datastore(props)
        return dynamic.CreateResult(id_=props["datastoreId"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        return dynamic.DiffResult(changes=olds.get("properties") != news.get("properties"),
                                  replaces=["datastoreId"] if olds.get("datastoreId") != news.get("datastoreId") else [])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        _put_datastore(news)
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # Azure ML owns a system datastore: it stays, as it is


class SystemDatastore(dynamic.Resource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None, **props: Any) -> None:
        super().__init__(SystemDatastoreProvider(), name, {_camel(k): v for k, v in props.items()}, opts)


class EndpointTraffic(dynamic.Resource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None, **props: Any) -> None:
        super().__init__(TrafficProvider(), name, {_camel(k): v for k, v in props.items()}, opts)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


CLASSES = {"amlctl:azureml:EndpointTraffic": EndpointTraffic, "amlctl:azureml:SystemDatastore": SystemDatastore}
