"""The commands that need neither the engine nor credentials: validate, render, plan, changed,
blame, init and schema. They read files and git only."""
from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import click

from controller.cli import (STACK, _emit_plan, _engine_call, _failed, _plan_exit, _repo_root, cli, color, output,
                            revision_option, stack_option)
from controller.manifests.discover import UsageError


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--strict", is_flag=True, help="Treat references to things no manifest defines as errors.")
@click.option("--skip-path-checks", is_flag=True,
              help="Do not check that local paths (code, conda files, model folders) exist.")
@click.option("--kind", metavar="KIND", help="Kind of bare az ml files that have no $schema line.")
@click.option("-o", "--output", "fmt", type=click.Choice(output.FORMATS), default="text", show_default=True,
              help="text for people, json for programs, github for pull-request annotations, sarif for code "
                   "scanning.")
def validate(paths: tuple[str, ...], strict: bool, skip_path_checks: bool, kind: str | None, fmt: str) -> None:
    """Check manifests and stack files: YAML, schemas, references, traffic, paths and secrets.

    PATHS default to the repository's manifests/ and stacks/. Exit 0 when valid (warnings
    allowed), 1 when invalid, 2 on usage errors.
    """
    from controller.validate import validate as run

    try:
        report = run(list(paths), strict=strict, skip_path_checks=skip_path_checks, kind=kind)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    n = len(report.manifests)
    if fmt == "json":
        click.echo(output.as_json(report.diagnostics, report.files, n))
    elif fmt == "sarif":
        click.echo(output.sarif(report.diagnostics))
    elif fmt == "github":
        click.echo(output.github(report.diagnostics, report.files, n))
    elif fmt == "azure-pipelines":
        click.echo(output.azure_pipelines(report.diagnostics, report.files, n))
    else:
        kinds = Counter(m.kind for m in report.manifests)
        stacks = [f"{st.name} ({st.target}{', production' if st.production else ''})" for st in report.stacks]
        line = output.inventory(dict(kinds), stacks) if report.manifests else ""
        click.echo(output.text(report.diagnostics, report.files, n, color=color.on(), inventory_line=line))
    sys.exit(0 if report.ok else 1)


@cli.command("render")
@STACK
@click.option("--strict", is_flag=True, help="Treat references to things no manifest defines as errors.")
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def render_cmd(stack: str, strict: bool, fmt: str) -> None:
    """Print the resource graph the working tree renders to for a stack.

    Offline and deterministic: the same manifests give the same bytes. Exit 0, or 1 when the
    manifests do not validate or render.
    """
    from controller.revisions import render_stack

    side = render_stack(_repo_root(), stack, strict=strict)
    problems = [d for d in side.diagnostics if d.severity.value == "error" or fmt == "text"]
    if side.graph is None:
        _failed(side.diagnostics, f"cannot render stack {stack}")
    if fmt == "json":
        click.echo(side.graph.to_json())
    else:
        for d in problems:
            click.echo(d.format(), err=True)
        for r in side.graph.resources:
            flags = "".join((" protected" if r.protect else "", " retained" if r.retain_on_delete else ""))
            click.echo(f"{r.type_name:<45} {r.name}{flags}")
            if r.depends_on:
                click.echo(f"{'':<45}   after {', '.join(r.depends_on)}")
        click.echo(f"{len(side.graph.resources)} resources for stack {stack}")


@cli.command("plan")
@STACK
@revision_option("base", "Compare from this revision. Default: the merge base with the default branch.")
@revision_option("head", "Compare to this revision. Default: the working tree.")
@click.option("--from-scratch", is_flag=True, help="Plan from nothing: what a first apply of the stack creates "
              "(needs no commit, nor git).")
@click.option("--strict", is_flag=True, help="Treat references to things no manifest defines as errors.")
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json", "markdown")), default="text",
              show_default=True, help="markdown is a pull-request comment (under 65,000 characters).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
def plan_cmd(stack: str, base: str | None, head: str | None, from_scratch: bool, strict: bool, fmt: str,
             detailed_exitcode: bool) -> None:
    """Show what a change does to a stack, offline, from git: no checkout, no credentials.

    Renders BASE and HEAD straight from git and lists each resource to create, update, replace or
    delete, with the property-level diff, what it means in Azure ML, and who gains or loses which
    role. Exit 0 (or 2 with --detailed-exitcode when there are changes); 1 when the manifests are
    invalid or the change cannot be applied (an existing asset version's content changed, or apply
    will refuse it: a protected resource deleted or replaced, which the summary says).
    """
    from controller.revisions import RevisionError, plan_revisions

    try:
        if from_scratch and base:
            raise click.UsageError("--from-scratch and --base exclude each other")
        result, diags = plan_revisions(_repo_root(), stack, base=base, head=head, strict=strict,
                                       from_scratch=from_scratch)
    except RevisionError as exc:
        raise click.UsageError(str(exc)) from None
    if result is None:
        _failed(diags, f"cannot plan stack {stack}")
    result.diagnostics.extend(_collisions(stack, result))
    _emit_plan(result, fmt)
    _plan_exit(result, detailed_exitcode)


def _collisions(stack: str, result) -> list:
    """Warnings for creates that meet what exists (controller.adopt.collisions): checked on the
    local target's simulation, said to be unknowable on Azure."""
    from controller.adopt import collisions
    from controller.adopt.run import AdoptError, stack_settings
    from controller.engine.operations import Refused, _project_name, backend_url
    from controller.engine.state import StateError, sim_dir
    root = _repo_root()
    try:
        settings = stack_settings(root, stack)
        exists = None
        if settings.get("target") == "local":
            managed = collisions.managed_ids(backend_url(root, stack), _project_name(root), stack)
            exists = collisions.simulation(sim_dir(root, stack), managed)
    except (AdoptError, StateError, OSError, Refused):
        return []  # the stack's own problems are the render's to report
    return collisions.notes(result, settings, exists)


@cli.command("blame")
@click.argument("resource", metavar="KIND/NAME")
@stack_option(required=False, help="Also follow this stack's overlay, and show when each change reached the stack "
              "(its update history; needs the engine and the backend).")
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def blame_cmd(resource: str, stack: str | None, fmt: str) -> None:
    """The commits that changed a resource's manifest and stack overlays: author, date, pull
    request, and (with --stack) the update that deployed each.

    KIND/NAME as in the manifests, e.g. Compute/gpu-cluster; KIND/ENDPOINT/NAME for a deployment.
    """
    import json as _json

    from controller import audit
    from controller.validate import validate

    root = _repo_root()
    report = validate(root=root, cwd=root, skip_path_checks=True)
    try:
        manifest = audit.find(report.manifests, resource)
    except audit.BlameError as exc:
        raise click.UsageError(str(exc)) from None
    stacks = report.stacks
    updates: dict[str, list] = {}
    if stack is not None:
        stacks = [s for s in report.stacks if s.name == stack]
        if not stacks:
            raise click.UsageError(f"no stack {stack!r}: stacks are {', '.join(s.name for s in report.stacks)}")
        from controller.engine import operations
        from controller.cli.reports import iso_time
        updates[stack] = [audit.Deployment(stack, u.version, iso_time(u.started), u.commit)
                          for u in _engine_call(operations.history, root, stack)
                          if u.result == "succeeded" and u.commit and u.kind == "update" and not u.dirty]
    try:
        result = audit.blame(root, manifest, stacks, report.overlaid, updates)
    except audit.BlameError as exc:
        click.echo(f"amlctl: {exc}", err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(_json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    click.echo(f"{result.subject}: " + "; ".join(f"{r.via} {r}" for r in result.regions))
    for e in result.edits:
        pr = f" ({e.pull_request})" if e.pull_request and e.pull_request not in e.subject else ""
        click.echo(f"{e.commit[:12]}  {e.date[:19].replace('T', ' ')}  {e.author}  {e.subject}{pr}")
        for r in e.regions:
            click.echo(f"    changed the {r.via}: {r}")
        for d in e.deployed:
            click.echo(f"    deployed to {d.stack} by update #{d.version} at {d.time} ({d.commit[:12]})")
        for name in result.stacks_checked:
            if not any(d.stack == name for d in e.deployed):
                click.echo(f"    not deployed to {name} yet")
    for sha in result.cut_at:
        click.echo(f"history is cut at {sha[:12]} (a shallow clone): git credits that commit with every older "
                   "line, so it may not be the change's; fetch the whole history (git fetch --unshallow) for the "
                   "real one")
    if not result.edits:
        click.echo("no commits: the resource's lines are not committed yet")
    elif not result.stacks_checked:
        click.echo("(pass --stack NAME to see when each change reached that stack)")


@cli.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--project", metavar="NAME", help="Pulumi project name. Default: the directory's name.")
@click.option("--workspace", metavar="NAME", help="The Azure ML workspace. Default: mlw-PROJECT.")
@click.option("--location", default="westeurope", show_default=True, help="Azure region.")
@click.option("--ci", "ci", multiple=True, type=click.Choice(("github", "azure-devops")),
              help="CI pipelines to add (repeatable). Default: both; delete the one you do not use.")
@click.option("--no-git", is_flag=True, help="Do not run `git init` when DIRECTORY is not in a repository.")
def init_cmd(directory: Path, project: str | None, workspace: str | None, location: str, ci: tuple[str, ...],
             no_git: bool) -> None:
    """Scaffold a new GitOps repository in DIRECTORY: a minimal workspace manifest, dev, prod and
    local stacks, Pulumi.yaml, .gitignore, pre-commit, CI pipelines and a README. Overwrites nothing:
    an existing .gitignore gains the lines amlctl needs, any other existing file is refused."""
    from controller import gitrev, scaffold

    directory = directory.resolve()
    project = project or re.sub(r"[^A-Za-z0-9_.-]", "-", directory.name) or "estate"
    try:
        content = scaffold.files(project, workspace or f"mlw-{project}"[:33], location,
                                 ci or tuple(scaffold.CI_SYSTEMS))
        written = scaffold.write(directory, content)
    except scaffold.InitError as exc:
        raise click.UsageError(str(exc)) from None
    if not no_git and not gitrev.is_repository(directory):
        gitrev.git(directory, "init", "-q", "-b", "main")
        click.echo(f"initialised a git repository in {directory}")
    for w in written:
        if not w.created:
            click.echo(f"  added {', '.join(w.added)} to {w.path}" if w.added else
                       f"  kept {w.path}: it already ignores what amlctl needs")
        elif not w.path.startswith("schemas/"):
            click.echo(f"  created {w.path}")
    click.echo(f"  created schemas/ ({sum(w.path.startswith('schemas/') for w in written)} JSON Schemas for editors)")
    # apply refuses uncommitted manifests (git history is the audit trail): the first step commits.
    commit = " && git add . && git commit -qm 'amlctl init'" if gitrev.is_repository(directory) else ""
    click.echo(f"\nNext: cd {directory} && amlctl validate{commit} && amlctl apply --stack local --yes\n"
               "Then fill in the subscriptions in stacks/, commit, push, and follow README.md's set-up.")


@cli.command("changed")
@revision_option("base", "Default: the merge base with the default branch.")
@revision_option("head", "Default: the working tree.")
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def changed_cmd(base: str | None, head: str | None, fmt: str) -> None:
    """The stacks whose rendered graph differs between two revisions (for a CI matrix)."""
    import json as _json

    from controller.revisions import RevisionError, changed_stacks

    try:
        rows = changed_stacks(_repo_root(), base=base, head=head)
    except RevisionError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        click.echo(_json.dumps({"stacks": [r["stack"] for r in rows if r["changed"]], "details": rows},
                               indent=2, sort_keys=True))
    else:
        for r in rows:
            click.echo(f"{'changed' if r['changed'] else 'same':8} {r['stack']}  ({r['reason']})")


@cli.group()
def schema() -> None:
    """The JSON Schemas of manifests and stack files."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write every schema into DIRECTORY (for editors and other tools)."""
    from controller import schemas as S

    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(S.SCHEMA_DIR.glob("*.schema.json")):
        shutil.copyfile(path, directory / path.name)
        written += 1
    click.echo(f"wrote {written} schemas to {directory}")


@schema.command("list")
def schema_list() -> None:
    """List the kinds and the az ml $schema names each accepts."""
    from controller import schemas as S

    s = S.load()
    for kind in sorted(s.kinds):
        info = s.kinds[kind]
        click.echo(f"{kind:<18} {info.uri}  az ml: {', '.join(info.azureml_schemas) or '-'}")
