"""SIMULATED endpoint traffic on the local target (see controller.engine.local): what Azure ML does
with traffic where a release depends on it, and the metrics a rollout's gates read.

- A deployment that takes live or mirrored traffic, or is its batch endpoint's default, cannot be
  deleted (Azure ML refuses too): traffic moves first.
- Every change of an endpoint's traffic, and every create and delete of one of its deployments, is
  appended to `<state_dir>/traffic.jsonl` with the deployments that exist at that moment and the
  split in force, so a test can assert there was never a moment without a deployment serving.
- `<state_dir>/metrics.json` holds what Azure Monitor would say about each deployment (requests,
  HTTP 5xx, success rate, p95 latency), set by a test or by `amlctl rollout simulate`; a deployment
  nobody set has answered no requests.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

from controller.rollout.health import Health

TIMELINE = "traffic.jsonl"
METRICS = "metrics.json"
ML = "azure-native:machinelearningservices:"
DEPLOYMENTS = (ML + "OnlineDeployment", ML + "BatchDeployment")


def endpoint_of(deployment_id: str) -> str:
    return deployment_id.rsplit("/deployments/", 1)[0]


def _split(store: Any, endpoint_id: str) -> dict[str, Any]:
    doc = store.load(endpoint_id) or {}
    body = (doc.get("properties") or {}).get("properties") or {}
    return {"traffic": dict(body.get("traffic") or {}), "mirrorTraffic": dict(body.get("mirrorTraffic") or {}),
            "default": (body.get("defaults") or {}).get("deploymentName")}


def serving(store: Any, deployment_id: str) -> str | None:
    """Why the deployment cannot be deleted now, or None."""
    endpoint_id = endpoint_of(deployment_id)
    if not store.live(store.load(endpoint_id)):
        return None
    name = deployment_id.rsplit("/", 1)[-1]
    split = _split(store, endpoint_id)
    live = {k.lower(): v for k, v in split["traffic"].items()}
    mirror = {k.lower(): v for k, v in split["mirrorTraffic"].items()}
    if live.get(name.lower()):
        return f"it takes {live[name.lower()]}% of the endpoint's live traffic"
    if mirror.get(name.lower()):
        return f"it receives {mirror[name.lower()]}% of the endpoint's traffic as mirror traffic"
    if split["default"] and split["default"].lower() == name.lower():
        return "it is the batch endpoint's default deployment"
    return None


def deployments(store: Any, endpoint_id: str) -> list[str]:
    folder = store.path(endpoint_id + "/deployments/x").parent
    if not folder.is_dir():
        return []
    return sorted(p.name[:-len(".json")] for p in folder.glob("*.json") if not p.name.startswith("."))


def record(store: Any, endpoint_id: str, op: str, deployment: str | None = None) -> None:
    """One line of the timeline; called with the store's lock held, after the change."""
    split = _split(store, endpoint_id)
    line = {"at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "op": op, "endpoint": endpoint_id.rsplit("/", 1)[-1], "deployments": deployments(store, endpoint_id),
            **split}
    if deployment:
        line["deployment"] = deployment
    with open(Path(store.root) / TIMELINE, "a", encoding="utf-8") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")


def timeline(state_dir: Path | str) -> list[dict[str, Any]]:
    path = Path(state_dir) / TIMELINE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- metrics ----------------------------------------------------------------------------------------
def set_health(state_dir: Path | str, deployment_id: str, *, requests: int, http_5xx: int = 0,
               success_rate: float | None = None, p95_latency_ms: float | None = None) -> dict[str, Any]:
    """What the simulated Azure Monitor says about a deployment from now on. The success rate
    defaults to the share of requests that were not 5xx."""
    if success_rate is None and requests:
        success_rate = round(100.0 * (requests - http_5xx) / requests, 4)
    entry = {"requests": int(requests), "http_5xx": int(http_5xx), "success_rate": success_rate,
             "p95_latency_ms": p95_latency_ms}
    path = Path(state_dir) / METRICS
    doc = _metrics(path)
    doc[deployment_id.lower()] = entry
    _write(path, doc)
    return entry


def forget(state_dir: Path | str, deployment_id: str) -> None:
    path = Path(state_dir) / METRICS
    doc = _metrics(path)
    if doc.pop(deployment_id.lower(), None) is not None:
        _write(path, doc)


def _write(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".metrics.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _metrics(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def health(state_dir: Path | str, deployment_id: str) -> Health:
    """The simulation keeps one figure per deployment: it stands for any window."""
    entry: Mapping[str, Any] = _metrics(Path(state_dir) / METRICS).get(deployment_id.lower()) or {}
    return Health(int(entry.get("requests") or 0), int(entry.get("http_5xx") or 0), entry.get("success_rate"),
                  entry.get("p95_latency_ms"), "simulation")
