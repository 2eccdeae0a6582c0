"""Model monitoring: a Schedule with `create_monitor` (TODO(issue 14): being built)."""
from __future__ import annotations

from controller.manifests.model import Manifest
from controller.render.context import Context


def schedule(m: Manifest, ctx: Context) -> None:
    raise ctx.error(m, ("create_monitor",), "R001", "create_monitor: model monitoring schedules are not rendered yet")
