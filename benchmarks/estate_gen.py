"""Generate a synthetic estate of N bare az ml YAML files of mixed kinds.

Bare az ml files (with `$schema`) so that azure-ai-ml's own loaders can read exactly the same
files. Deterministic for a given N and seed. Used by the benchmarks.
"""
from __future__ import annotations

import random
from pathlib import Path

SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"

WORKSPACE = """apiVersion: amlctl.dev/v1alpha1
kind: Workspace
metadata:
  name: mlw-bench
spec:
  location: westeurope
"""


def _compute(i: int, r: random.Random) -> tuple[str, str]:
    return "compute", f"""$schema: {SCHEMA.format('amlCompute')}
name: cl-{i:05d}
type: amlcompute
size: {r.choice(['Standard_DS3_v2', 'Standard_D4s_v3', 'Standard_NC6s_v3'])}
min_instances: 0
max_instances: {r.randint(1, 16)}
idle_time_before_scale_down: {r.choice([120, 600, 1800])}
tier: {r.choice(['dedicated', 'low_priority'])}
"""


def _datastore(i: int, r: random.Random) -> tuple[str, str]:
    return "datastore", f"""$schema: {SCHEMA.format('azureBlob')}
name: ds_{i:05d}
type: azure_blob
description: Blob container {i}
account_name: stbench{i:05d}
container_name: data-{i}
"""


def _data(i: int, r: random.Random) -> tuple[str, str]:
    return "data", f"""$schema: {SCHEMA.format('data')}
name: data-{i:05d}
version: "{r.randint(1, 9)}"
type: uri_folder
description: Training data {i}
path: azureml://datastores/workspaceblobstore/paths/data/{i}/
"""


def _environment(i: int, r: random.Random) -> tuple[str, str]:
    return "environment", f"""$schema: {SCHEMA.format('environment')}
name: env-{i:05d}
version: "{r.randint(1, 9)}"
image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
description: Environment {i}
tags:
  team: team-{i % 7}
"""


def _model(i: int, r: random.Random) -> tuple[str, str]:
    return "model", f"""$schema: {SCHEMA.format('model')}
name: model-{i:05d}
version: "{r.randint(1, 9)}"
type: mlflow_model
path: azureml://datastores/workspaceblobstore/paths/models/{i}/
description: Model {i}
"""


def _online_endpoint(i: int, r: random.Random) -> tuple[str, str]:
    return "online_endpoint", f"""$schema: {SCHEMA.format('managedOnlineEndpoint')}
name: ep-{i:05d}
auth_mode: {r.choice(['key', 'aml_token'])}
description: Endpoint {i}
"""


def _defined(kind_index: int, i: int) -> int:
    """The index of the nearest manifest at or before i that the generator made of that kind."""
    n = len(GENERATORS)
    return i - ((i - kind_index) % n)


def _online_deployment(i: int, r: random.Random) -> tuple[str, str]:
    model, env, ep = _defined(4, i), _defined(3, i), _defined(5, i)
    return "online_deployment", f"""$schema: {SCHEMA.format('managedOnlineDeployment')}
name: dep-{i:05d}
endpoint_name: ep-{ep:05d}
model: azureml:model-{model:05d}@latest
environment: azureml:env-{env:05d}@latest
instance_type: Standard_DS3_v2
instance_count: {r.randint(1, 4)}
request_settings:
  request_timeout_ms: 3000
  max_concurrent_requests_per_instance: 1
"""


def _batch_endpoint(i: int, r: random.Random) -> tuple[str, str]:
    return "batch_endpoint", f"""$schema: {SCHEMA.format('batchEndpoint')}
name: bep-{i:05d}
description: Batch endpoint {i}
auth_mode: aad_token
"""


def _component(i: int, r: random.Random) -> tuple[str, str]:
    return "component", f"""$schema: {SCHEMA.format('commandComponent')}
name: comp_{i:05d}
version: "{r.randint(1, 9)}"
type: command
command: python -c "print({i})" --x ${{{{inputs.x}}}}
environment: azureml:env-{_defined(3, i):05d}@latest
inputs:
  x:
    type: integer
    default: {i}
outputs:
  out:
    type: uri_folder
"""


def _connection(i: int, r: random.Random) -> tuple[str, str]:
    return "connection", f"""name: conn-{i:05d}
type: container_registry
target: https://registry{i}.azurecr.io
credentials:
  type: managed_identity
  client_id: 00000000-0000-0000-0000-{i:012d}
  resource_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id{i}
"""


GENERATORS = [_compute, _datastore, _data, _environment, _model, _online_endpoint, _online_deployment,
              _batch_endpoint, _component]


def generate(root: Path, n: int, seed: int = 7) -> list[tuple[str, Path]]:
    """Write n manifests (plus a Workspace) under root/manifests; return (loader kind, path)."""
    r = random.Random(seed)
    out = []
    folder = root / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    (folder / "workspace.yaml").write_text(WORKSPACE)
    for i in range(n):
        kind, text = GENERATORS[i % len(GENERATORS)](i, r)
        path = folder / kind / f"{kind}-{i:05d}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        out.append((kind, path))
    return out
