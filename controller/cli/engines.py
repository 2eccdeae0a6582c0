"""Commands that prepare the estate for engines other than amlctl's own CI-driven applies: the
Pulumi Kubernetes Operator (`amlctl pko`)."""
from __future__ import annotations

import os
from pathlib import Path

import click

from controller.cli import _repo_root, cli


def _client_id(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for v in values:
        stack, sep, cid = v.partition("=")
        if not sep or not stack or not cid:
            raise click.BadParameter(f"{v!r}: STACK=CLIENT_ID (the application id of the stack's Entra identity)")
        out.append((stack, cid))
    return tuple(out)


@cli.command("pko")
@click.option("--repo", required=True, metavar="URL", help="The git URL the operator clones.")
@click.option("--branch", default="main", show_default=True, help="The branch the operator follows.")
@click.option("--namespace", default="amlctl", show_default=True, help="The Kubernetes namespace of the Stacks.")
@click.option("--backend", metavar="URL", help="The state's URL (azblob://...). Default: $AMLCTL_BACKEND_URL.")
@click.option("--resync", "resync", type=int, default=600, show_default=True, metavar="SECONDS",
              help="How often the operator refreshes and updates each stack (drift correction).")
@click.option("--tenant-id", default="TENANT-ID", show_default=True, help="The Entra tenant of the identities.")
@click.option("--client-id", "client_ids", multiple=True, callback=_client_id, metavar="STACK=ID",
              help="The client id of a stack's Entra identity (repeatable). Default: a placeholder to fill in.")
@click.option("--repo-dir", default="", metavar="DIR", help="The folder of Pulumi.yaml in the repository.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("deploy/pko"),
              show_default=True, help="Where to write one file per stack (relative to the repository).")
def pko_cmd(repo: str, branch: str, namespace: str, backend: str | None, resync: int, tenant_id: str,
            client_ids: tuple, repo_dir: str, out: Path) -> None:
    """Write the Pulumi Kubernetes Operator's ServiceAccount and Stack manifests for each Azure
    stack: pull-based GitOps, the operator applying the branch and correcting drift on a resync
    period. Writes no secret value and overwrites nothing."""
    from controller.manifests.project import ProjectError, project_name
    from controller.revisions import stacks_at
    from controller.scaffold import InitError, pko, write

    root = _repo_root()
    try:
        project = project_name(root)
    except ProjectError as exc:
        raise click.ClickException(str(exc)) from None
    stacks = [_info(root, name) for name in stacks_at(root, None)]
    opts = pko.Options(project, repo, branch, namespace, backend or os.environ.get("AMLCTL_BACKEND_URL", ""),
                       resync, tenant_id, client_ids, repo_dir)
    try:
        files = pko.manifests(opts, [s for s in stacks if s is not None])
    except pko.PkoError as exc:
        raise click.UsageError(str(exc)) from None
    dest = out if out.is_absolute() else root / out
    clashes = sorted(name for name in files if (dest / name).exists())
    if clashes:
        raise click.ClickException(f"{dest / clashes[0]} already exists: amlctl pko overwrites nothing (remove the "
                                   "files to write them again, or pass --out)")
    try:
        written = write(dest, {k: v.encode("utf-8") for k, v in files.items()})
    except (InitError, OSError) as exc:
        raise click.ClickException(f"cannot write {dest}: {exc}") from None
    for w in written:
        click.echo(f"  created {dest.relative_to(root) if dest.is_relative_to(root) else dest}/{w.path}")


def _info(root: Path, name: str):
    """The stack as the operator needs it; None for a local-target stack. A stack file that does not
    load is an error naming it (validate says what is wrong)."""
    import yaml

    from controller.scaffold import pko
    from controller.stacks import load_stack
    path = root / "stacks" / f"Pulumi.{name}.yaml"
    if not path.exists():
        path = path.with_suffix(".yml")
    stack, diags = load_stack(path, f"stacks/{path.name}")
    if stack is None:
        raise click.ClickException(f"stacks/{path.name} cannot be read: {diags[0].format() if diags else ''} "
                                   "(amlctl validate says more)")
    if stack.target != "azure":
        return None
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    sub = stack.settings.get("subscriptionId")
    if not sub:
        raise click.ClickException(f"stacks/{path.name}: amlctl:subscriptionId is not set; the operator's "
                                   "provider needs it")
    provider = doc.get("secretsprovider") or ("passphrase" if doc.get("encryptionsalt") else None)
    if provider is None:
        # The operator's pod would have Pulumi write a new salt on each run, lost with the pod.
        raise click.ClickException(
            f"stacks/{path.name} has no secrets configuration (secretsprovider or encryptionsalt). Set it up once "
            f"and commit it, then run amlctl pko again: amlctl secrets-provider --stack {name} "
            "azurekeyvault://VAULT.vault.azure.net/keys/KEY (or passphrase, with PULUMI_CONFIG_PASSPHRASE set)")
    return pko.StackInfo(name, stack.production, str(sub), passphrase=provider == "passphrase")
