"""A workspace "made in the portal" on the local simulation: documents written without amlctl.

Each body is what azure-ai-ml itself sends for the entity (its `_to_rest_object()`, as `az ml ...
create` does), after MLClient has resolved references to ARM ids; the document keeps the path
parameters beside it, as the simulation keeps every resource. Nothing here goes through the
renderer, so a round trip through `amlctl import` compares amlctl's render with azure-ai-ml's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.engine import local

SUB = "00000000-0000-0000-0000-00000000beef"
RG = "rg-ml-portal"
WS_NAME = "mlw-portal"
WS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS_NAME}"
ML = local.ML
MADE = "2026-11-01T09:00:00.000Z"
STACK = f"""config:
  amlctl:target: local
  amlctl:subscriptionId: {SUB}
  amlctl:resourceGroup: {RG}
  amlctl:location: westeurope
  amlctl:defaultWorkspace: {WS_NAME}
encryptionsalt: v1:vBwLQKFwv94=:v1:x69QAPvBJlTJj59i:qCpN2llxgUUEl5RJ/V4JpCCeiiPm4A==
"""


class Portal:
    """Writes the simulated documents of resources made outside amlctl."""

    def __init__(self, sim_dir: Path) -> None:
        self.store = local.Store(sim_dir)
        self.base = {"resourceGroupName": RG, "workspaceName": WS_NAME}

    def put(self, type_name: str, arm_id: str, parent: str | None, inputs: dict[str, Any], *,
            system: bool = False) -> None:
        doc = {"simulated": True, "id": arm_id, "type": ML + type_name, "name": "(made in the portal)",
               "parent": parent, "properties": inputs, "computed": {"id": arm_id}, "created": MADE,
               "updated": MADE}
        if "identity" in inputs and "SystemAssigned" in str(inputs["identity"].get("type", "")):
            doc["computed"]["identity"] = {"principalId": local.principal_id(arm_id), "tenantId": local.SIM_TENANT}
        if system:
            doc["system"] = True
        self.store.write(doc)

    def workspace(self) -> None:
        self.put("Workspace", WS, None, {"resourceGroupName": RG, "workspaceName": WS_NAME, "location": "westeurope",
                                         "identity": {"type": "SystemAssigned"}})
        for name in local.SYSTEM_DATASTORES:  # Azure ML makes them with the workspace
            kind = "AzureFile" if name == "workspacefilestore" else "AzureBlob"
            self.put("Datastore", f"{WS}/datastores/{name}", WS, {"properties": {
                "datastoreType": kind, "isDefault": name == "workspaceblobstore",
                "credentials": {"credentialsType": "AccountKey"}}}, system=True)

    def compute(self, entity: Any) -> None:
        body = entity._to_rest_object().as_dict()
        body["location"] = "westeurope"
        body["properties"]["properties"].setdefault("vmPriority", "Dedicated")  # Azure's default, stored
        self.put("Compute", f"{WS}/computes/{entity.name}", WS, {**self.base, "computeName": entity.name, **body})

    def datastore(self, entity: Any) -> None:
        body = entity._to_rest_object().as_dict()
        self.put("Datastore", f"{WS}/datastores/{entity.name}", WS, {**self.base, "name": entity.name, **body})

    def asset(self, type_name: str, collection: str, entity: Any) -> None:
        """A container, as Azure ML makes it with the first version (a data container takes its
        version's type), and the entity's version."""
        cid = f"{WS}/{collection}/{entity.name}"
        body = entity._to_rest_object().as_dict()
        container: dict[str, Any] = {"isArchived": False}
        if type_name == "Data":
            container["dataType"] = body["properties"]["dataType"]
        self.put(type_name + "Container", cid, WS, {**self.base, "name": entity.name, "properties": container})
        self.put(type_name + "Version", f"{cid}/versions/{entity.version}", cid,
                 {**self.base, "name": entity.name, "version": str(entity.version), **body})

    def endpoint(self, entity: Any, traffic: dict[str, int] | None = None) -> None:
        body = entity._to_rest_online_endpoint(location="westeurope").as_dict()
        if traffic is not None:
            body.setdefault("properties", {})["traffic"] = traffic
        self.put("OnlineEndpoint", f"{WS}/onlineEndpoints/{entity.name}", WS,
                 {**self.base, "endpointName": entity.name, **body})

    def deployment(self, entity: Any) -> None:
        body = entity._to_rest_object(location="westeurope").as_dict()
        eid = f"{WS}/onlineEndpoints/{entity.endpoint_name}"
        self.put("OnlineDeployment", f"{eid}/deployments/{entity.name}", eid,
                 {**self.base, "endpointName": entity.endpoint_name, "deploymentName": entity.name, **body})


def estate(sim_dir: Path, *, account_key: bool = False) -> Portal:
    """The portal workspace of the adoption tests: one of each kind `amlctl import` covers. Its
    datastore is identity-based, or with `account_key` holds a key (a secret the import never writes)."""
    from azure.ai.ml.entities import (AccountKeyConfiguration, AmlCompute, AzureBlobDatastore, Data, Environment,
                                      ManagedOnlineDeployment, ManagedOnlineEndpoint, Model)
    p = Portal(sim_dir)
    p.workspace()
    p.compute(AmlCompute(name="cpu-cluster", size="Standard_DS3_v2", min_instances=0, max_instances=4,
                         idle_time_before_scale_down=120))
    p.datastore(AzureBlobDatastore(name="landing", account_name="stlanding", container_name="raw",
                                   description="Raw files from the partners",
                                   credentials=AccountKeyConfiguration(account_key="c2VjcmV0LWtleQ==")
                                   if account_key else None))
    p.asset("Environment", "environments", Environment(
        name="score-env", version="3", image="mcr.microsoft.com/azureml/minimal-py312-inference:latest",
        conda_file={"name": "score", "channels": ["conda-forge"], "dependencies": ["python=3.11", "pip"]},
        description="Inference environment"))
    p.asset("Model", "models", Model(name="credit", version="2", type="custom_model",
                                     path="azureml://datastores/workspaceblobstore/paths/models/credit/2/",
                                     description="Credit-default model", tags={"team": "risk"}))
    p.asset("Data", "data", Data(name="loans", version="1", type="uri_folder",
                                 path="azureml://datastores/landing/paths/loans/"))
    p.endpoint(ManagedOnlineEndpoint(name="credit-online", auth_mode="key", description="Scoring"),
               traffic={"blue": 100})
    p.deployment(ManagedOnlineDeployment(
        name="blue", endpoint_name="credit-online", instance_type="Standard_DS3_v2", instance_count=1,
        model=f"{WS}/models/credit/versions/2", environment=f"{WS}/environments/score-env/versions/3"))
    return p
