"""The kinds `amlctl import` reads, and where their manifests go.

Covered: what a real workspace holds first (compute clusters and instances, non-system datastores,
environments, models, data assets, managed online endpoints and their deployments). Not covered
yet (read by nothing here; write their manifests by hand): the workspace itself (it is named by
`--workspace` or the stack's `amlctl:defaultWorkspace` and stays as it is), components, batch
endpoints and deployments, schedules, jobs and pipelines, connections, role assignments,
registries, serverless endpoints, feature stores, Kubernetes online deployments.
"""
from __future__ import annotations

from dataclasses import dataclass

SCHEMAS = "https://azuremlschemas.azureedge.net/latest/"


@dataclass(frozen=True)
class Kind:
    name: str  # the manifest kind
    folder: str  # manifests/<folder>/...
    versioned: bool  # an asset version (Data, Environment, Model): one file per version


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("Compute", "compute", False),
    Kind("Datastore", "datastores", False),
    Kind("Environment", "environments", True),
    Kind("Model", "models", True),
    Kind("Data", "data", True),
    Kind("OnlineEndpoint", "endpoints", False),
    Kind("OnlineDeployment", "endpoints", False),
)}

NOT_COVERED = ("Workspace", "Component", "BatchEndpoint", "BatchDeployment", "Schedule", "Job", "Pipeline",
               "Connection", "RoleAssignment", "Registry", "ServerlessEndpoint", "FeatureStore",
               "FeatureStoreEntity", "FeatureSet", "CapabilityHost", "DataImport", "FineTuningJob")

# The `az ml` $schema of a bare file, by the entity's type as azure-ai-ml names it.
SCHEMA_OF = {
    "amlcompute": "amlCompute.schema.json", "computeinstance": "computeInstance.schema.json",
    "azure_blob": "azureBlob.schema.json", "azure_data_lake_gen2": "azureDataLakeGen2.schema.json",
    "azure_file": "azureFile.schema.json", "azure_data_lake_gen1": "azureDataLakeGen1.schema.json",
    "Environment": "environment.schema.json", "Model": "model.schema.json", "Data": "data.schema.json",
    "OnlineEndpoint": "managedOnlineEndpoint.schema.json", "OnlineDeployment": "managedOnlineDeployment.schema.json",
}


@dataclass(frozen=True)
class Selector:
    """One KIND/NAME of the command line (NAME may hold a version: Model/credit:2)."""
    kind: str
    name: str
    version: str | None = None

    def matches(self, kind: str, name: str, version: str | None) -> bool:
        return self.kind == kind and self.name == name and (self.version is None or self.version == version)


class BadSelector(ValueError):
    pass


def parse_selector(text: str) -> Selector:
    kind, sep, name = text.partition("/")
    if not sep or not name:
        raise BadSelector(f"{text!r} is not KIND/NAME (e.g. Compute/cpu-cluster, Model/credit:2)")
    known = {k.lower(): k for k in KINDS}
    if kind.lower() not in known:
        hint = " (not covered by amlctl import yet)" if kind in NOT_COVERED else ""
        raise BadSelector(f"unknown kind {kind!r}{hint}: amlctl import reads {', '.join(KINDS)}")
    name, _, version = name.partition(":")
    return Selector(known[kind.lower()], name, version or None)
