"""amlctl's own resource types, for the steps azure-native has no resource for.

`amlctl:azureml:EndpointTraffic`: an endpoint's traffic split (online) or default deployment
(batch), set after the deployments exist, so one apply creates endpoint, deployments, then
traffic. It is a Pulumi dynamic resource that uses azure-ai-ml's MLClient, which knows how to
update an endpoint's traffic without touching the rest of it.
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


class TrafficProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        _apply(props)
        return dynamic.CreateResult(id_=props["endpointId"] + "/traffic", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        keys = ("traffic", "mirrorTraffic", "defaultDeployment")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return dynamic.DiffResult(changes=bool(changed), replaces=["endpointId"] if olds.get("endpointId") != news.get("endpointId") else [])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        _apply(news)
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # The endpoint (or its deletion) owns the traffic; dropping this step changes nothing.
        return None


class EndpointTraffic(dynamic.Resource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None, **props: Any) -> None:
        super().__init__(TrafficProvider(), name, {_camel(k): v for k, v in props.items()}, opts)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


CLASSES = {"amlctl:azureml:EndpointTraffic": EndpointTraffic}
