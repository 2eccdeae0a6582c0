"""Data import: a Schedule with `import_data` and one-off DataImport runs (TODO(issue 14): being built)."""
from __future__ import annotations

from controller.manifests.model import Manifest
from controller.render.context import Context


def schedule(m: Manifest, ctx: Context) -> None:
    raise ctx.error(m, ("import_data",), "R001", "import_data: data import schedules are not rendered yet")
