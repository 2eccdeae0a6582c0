"""`amlctl import` as one function the CLI and tests call: the stage's steps in order."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from controller.adopt import clean, layout, reader
from controller.adopt.kinds import Selector


class AdoptError(Exception):
    """Bad input or an unreadable workspace: one line for the person, exit 1."""


@dataclass(frozen=True)
class Report:
    stack: str
    workspace: str
    written: tuple[layout.Written, ...]
    left_out: tuple[clean.Skip, ...]
    notes: tuple[str, ...]
    recorded: Any = None  # controller.adopt.record.Recorded, when the import was recorded
    extra: Mapping[str, Any] = field(default_factory=dict)


def stack_settings(root: Path, stack: str) -> dict[str, Any]:
    from controller.stacks import load_stack
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    loaded, diags = load_stack(path, f"stacks/{path.name}")
    if loaded is None:
        raise AdoptError(f"stack {stack} cannot be read:\n" + "\n".join(d.format() for d in diags))
    return dict(loaded.settings)


def workspace_id(settings: Mapping[str, Any], workspace: str) -> str:
    return (f"/subscriptions/{settings.get('subscriptionId')}/resourceGroups/{settings.get('resourceGroup')}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace}")


def adopt(root: Path, stack: str, workspace: str | None = None, only: Iterable[Selector] = (), *,
          record: bool = True, ml: Any = None) -> Report:
    """Write the manifests of what the workspace holds (all covered kinds, or `only`), then record
    the import of each existing resource they render to into the stack's state."""
    from controller.engine.state import sim_dir
    settings = stack_settings(root, stack)
    workspace = workspace or settings.get("defaultWorkspace")
    if not workspace:
        raise AdoptError(f"which workspace? stack {stack} has no amlctl:defaultWorkspace: pass --workspace NAME")
    for key in ("subscriptionId", "resourceGroup"):
        if not settings.get(key):
            raise AdoptError(f"stack {stack} has no amlctl:{key}: amlctl import reads the workspace there")
    if ml is None:
        ml = reader.client(settings, workspace, sim_dir(root, stack))
    try:
        found = reader.read(ml, only)
    except reader.ReadError as exc:
        raise AdoptError(f"workspace {workspace} (stack {stack}): {exc}") from None
    default = workspace == settings.get("defaultWorkspace")
    ctx = clean.Context(workspace_id(settings, workspace), settings.get("location"), stack,
                        None if default else workspace)
    drafts, left_out = [], []
    for f in found:
        out = clean.to_manifest(f, ctx)
        (left_out if isinstance(out, clean.Skip) else drafts).append(out)
    # Another workspace's manifests (envelopes naming it) go under a folder of their own.
    folder = "manifests" if default else f"manifests/{workspace}"
    written = tuple(layout.write(root, layout.place(drafts, folder)))
    notes = tuple(n for w in written if w.written for n in w.draft.notes)
    report = Report(stack, workspace, written, tuple(left_out), notes)
    if record:
        # Whatever the files' fate (written now, or there from an earlier run or by hand), each
        # object read that the working tree renders is adopted: a re-run finishes the job.
        from controller.adopt import record as rec
        report = replace(report, recorded=rec.record(root, stack, found, settings))
    return report
