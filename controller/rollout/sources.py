"""Where a release's health comes from: the simulation's metrics on the local target, Azure
Monitor on Azure (controller.rollout.azure_health)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from controller.render.graph import Graph, Resource
from controller.rollout.decide import HealthOf


def health_for(graph: Graph, sim_dir: Path, now: dt.datetime) -> Callable[[Resource], HealthOf]:
    local = graph.settings.get("target", "azure") == "local"

    def of(step: Resource) -> HealthOf:
        endpoint_id = str(step.inputs.get("endpointId", "")).rstrip("/")

        def read(new: str, since: dt.datetime):
            if local:
                from controller.engine import local_traffic
                return local_traffic.health(sim_dir, f"{endpoint_id}/deployments/{new}")
            from controller.rollout import azure_health
            return azure_health.read(endpoint_id, new, since, now)
        return read
    return of
