"""SIMULATED runs on the local target: a job the engine created runs, completes, and registers its models.

THIS IS A SIMULATION: nothing trains. A job document (a fine-tuning run through
azure-native:resources:Resource, or a pipeline or command run) is created "Running"; when amlctl
next asks about it (controller.runs, before an apply), it has completed if AMLCTL_SIM_RUN_SECONDS
(default 0) have passed since it was created. Completing registers, as Azure ML does, a model
version for each model output that names an asset (`assetName`): version 1, or one above the
highest the simulated workspace holds. That model is the service's, not the stack's: no Pulumi
resource owns it, so removing the job leaves it, as in Azure.

So on the local target a first apply creates the run and reports its dependents as waiting, and
the next apply serves the model; a test sets AMLCTL_SIM_RUN_SECONDS to hold a run open.
"""
from __future__ import annotations

import datetime as _dt
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

from controller.engine.local import ML, NAMESPACE, Store, _now

# controller.runs' statuses (not imported: the engine's provider host loads this module, and should
# not load the renderers that controller.runs stands on).
COMPLETED, NOT_STARTED = "Completed", "NotStarted"

DURATION_ENV = "AMLCTL_SIM_RUN_SECONDS"
GENERIC = "azure-native:resources:Resource"
_MODEL_OUTPUTS = ("mlflow_model", "custom_model", "triton_model")


def is_run(type_token: str, inputs: Mapping[str, Any]) -> bool:
    return type_token == ML + "Job" or (type_token == GENERIC and inputs.get("resourceType") == "jobs")


def started(type_token: str, inputs: Mapping[str, Any], existing: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The run record a new job document starts with (an existing one keeps its own)."""
    if not is_run(type_token, inputs):
        return None
    if existing and existing.get("run"):
        return dict(existing["run"])
    return {"status": "Running", "started": _now()}


def workspace_guid(workspace_id: str) -> str:
    """The simulated workspace's GUID (Azure's `workspaceId`), stable for its ARM id."""
    return str(uuid.uuid5(NAMESPACE, "workspace:" + workspace_id.lower()))


def outcome(sim_dir: Path | str, run_id: str, asset: str) -> Any:
    """The run's status (a controller.runs.Outcome); a run whose time is up completes now and
    registers its models."""
    from controller.runs import Outcome
    store = Store(sim_dir)
    workspace = run_id[: run_id.lower().rfind("/jobs/")]
    with store.locked():
        doc = store.load(run_id)
        if doc is None or not store.live(doc):
            return Outcome(NOT_STARTED)
        run = dict(doc.get("run") or {"status": COMPLETED, "started": doc.get("created", _now())})
        if run.get("status") == "Running" and _elapsed(run.get("started")) >= _duration():
            run["status"] = COMPLETED
            run["registered"] = _register(store, workspace, doc)
            store.write({**doc, "run": run})
            store.log("complete", run_id, doc.get("name", ""))
    if run.get("status") != COMPLETED:
        return Outcome(str(run.get("status")))
    version = (run.get("registered") or {}).get(asset)
    return Outcome(COMPLETED if version else "Registering", version, workspace_guid(workspace))


def _duration() -> float:
    try:
        return float(os.environ.get(DURATION_ENV, "0") or 0)
    except ValueError:
        return 0.0


def _elapsed(started: Any) -> float:
    try:
        at = _dt.datetime.fromisoformat(str(started).replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (_dt.datetime.now(_dt.timezone.utc) - at).total_seconds()


def _register(store: Store, workspace: str, doc: Mapping[str, Any]) -> dict[str, str]:
    """Register a model version for each model output naming an asset; {asset: version}."""
    props = (doc.get("properties") or {}).get("properties") or {}
    out: dict[str, str] = {}
    for _, o in sorted((props.get("outputs") or {}).items()):
        if not isinstance(o, dict) or not o.get("assetName") or o.get("jobOutputType") not in _MODEL_OUTPUTS:
            continue
        name = str(o["assetName"])
        container = f"{workspace}/models/{name}"
        now = _now()
        by = f"(registered by run {doc['id'].rsplit('/', 1)[-1]})"  # no Pulumi resource owns it
        if store.load(container) is None:
            store.write({"simulated": True, "id": container, "type": ML + "ModelContainer", "name": by,
                         "parent": workspace, "properties": {"name": name, "properties": {}},
                         "computed": {"id": container}, "created": now, "updated": now})
        version = str(_next_version(store, container))
        arm_id = f"{container}/versions/{version}"
        job = doc["id"].rsplit("/", 1)[-1]
        store.write({"simulated": True, "id": arm_id, "type": ML + "ModelVersion", "name": by, "parent": container,
                     "properties": {"name": name, "version": version,
                                    "properties": {"modelType": o["jobOutputType"], "jobName": job}},
                     "computed": {"id": arm_id}, "created": now, "updated": now})
        store.log("create", arm_id, by)
        out[name] = version
    return out


def _next_version(store: Store, container: str) -> int:
    folder = store.path(container).with_suffix("") / "versions"
    taken = [int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()] if folder.is_dir() else []
    return max(taken, default=0) + 1
