"""`amlctl import`: adopt what a workspace already holds (controller.adopt)."""
from __future__ import annotations

import sys

import click

from controller.cli import STACK, _engine_call, _repo_root, cli


@cli.command("import")
@STACK
@click.option("--workspace", metavar="NAME",
              help="The workspace to read (default: the stack's amlctl:defaultWorkspace).")
@click.option("--no-state", is_flag=True, help="Write the manifests only; record nothing in the stack's state.")
@click.argument("objects", nargs=-1, metavar="[KIND/NAME ...]")
def import_cmd(stack: str, workspace: str | None, no_state: bool, objects: tuple[str, ...]) -> None:
    """Write manifests for what a workspace already holds, and adopt it into the stack's state.

    Reads the workspace with azure-ai-ml (what `az ml ... show` reads), writes one bare az ml file
    per object under manifests/ (never over an existing file), then records the import of each
    resource those files render to, so that the next plan creates nothing that exists. KIND/NAME
    (Compute/cpu-cluster, Model/credit:2) limits it to those objects. Exit 0, 1 when the workspace
    cannot be read or the import fails, 2 on usage errors.
    """
    from controller.adopt import kinds
    from controller.adopt.run import AdoptError, adopt

    try:
        only = [kinds.parse_selector(o) for o in objects]
    except kinds.BadSelector as exc:
        raise click.BadParameter(str(exc), param_hint="KIND/NAME") from None
    root = _repo_root()
    try:
        report = _engine_call(adopt, root, stack, workspace, only, record=not no_state)
    except AdoptError as exc:
        click.echo(f"amlctl: {exc}", err=True)
        sys.exit(1)
    for line in summary(report):
        click.echo(line)


def summary(report) -> list[str]:
    lines = []
    for w in report.written:
        what = f"{w.draft.kind}/{w.draft.name}" + (f":{w.draft.version}" if w.draft.version else "")
        lines.append(f"  wrote    {w.path}  ({what})" if w.written else f"  skipped  {w.path}  ({what}: {w.why})")
    for s in report.left_out:
        lines.append(f"  left out {s.kind}/{s.name}: {s.why}")
    if not report.written:
        lines.append(f"nothing to write: workspace {report.workspace} holds none of the kinds amlctl import reads")
    for n in report.notes:
        lines.append(f"note: {n}")
    rec = report.recorded
    if rec is not None:
        lines += rec.lines()
    return lines
