"""The `amlctl` command line: a thin layer over the Python API.

Exit codes (stable): 0 success, 1 invalid input or failed operation, 2 usage error.
"""
from __future__ import annotations

import os
import re
import shutil
from collections import Counter
import sys
from pathlib import Path

import click

from controller import __version__
from controller.cli import output
from controller.manifests.discover import UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="amlctl")
def cli() -> None:
    """GitOps for Azure Machine Learning: validate, plan and apply an estate kept as YAML in git."""


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
        click.echo(output.text(report.diagnostics, report.files, n, color=sys.stdout.isatty(), inventory_line=line))
    sys.exit(0 if report.ok else 1)


def _failed(diags: list, what: str) -> None:
    """Print the problems that stop a render or plan, then exit 1."""
    color = sys.stderr.isatty()
    for d in diags:
        line = d.format()
        if color:
            tag = f"{d.severity.value}[{d.code}]"
            line = line.replace(tag, click.style(tag, fg="red" if d.severity.value == "error" else "yellow",
                                                 bold=True), 1)
        click.echo(line, err=True)
    errors = sum(d.severity.value == "error" for d in diags)
    click.echo(f"{what}: {errors} error{'s' * (errors != 1)}", err=True)
    sys.exit(1)


def _repo_root() -> Path:
    from controller.manifests.discover import find_root
    return find_root(Path.cwd()).resolve()


def _existing_stack(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A stack of the working tree: a typo is a usage error that lists the stacks there are."""
    from controller.stacks import StackNameError, check_name
    if value is None:
        return value
    try:
        check_name(value)
    except StackNameError as exc:
        raise click.BadParameter(str(exc)) from None
    stacks = _repo_root() / "stacks"
    if not (stacks / f"Pulumi.{value}.yaml").is_file():
        names = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks.glob("Pulumi.*.yaml"))
        raise click.BadParameter(f"no stack file stacks/Pulumi.{value}.yaml (the stacks: {', '.join(names) or 'none'})")
    return value


STACK = click.option("-s", "--stack", required=True, metavar="NAME", callback=_existing_stack,
                     help="The stack (stacks/Pulumi.NAME.yaml).")


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
@click.option("-s", "--stack", required=True, metavar="NAME", help="The stack (stacks/Pulumi.NAME.yaml).")
@click.option("--base", metavar="REV", help="Compare from this revision. Default: the merge base with the default branch.")
@click.option("--head", metavar="REV", help="Compare to this revision. Default: the working tree.")
@click.option("--from-scratch", is_flag=True, help="Plan from nothing: what a first apply of the stack creates.")
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
    invalid or the change cannot be applied (e.g. an existing asset version's content changed).
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
    _emit_plan(result, fmt)
    if result.errors:
        sys.exit(1)
    sys.exit(2 if detailed_exitcode and result.has_changes else 0)


def _engine_call(fn, *args, **kwargs):
    from pulumi.automation import errors as auto_errors

    from controller.engine.binary import EngineMissing
    from controller.engine.operations import Cancelled, Declined, Refused
    stack = args[1] if len(args) > 1 and isinstance(args[1], str) else "STACK"  # fn(root, stack, ...)
    try:
        return fn(*args, **kwargs)
    except (Refused, Declined, EngineMissing) as exc:
        click.echo(f"amlctl: {exc}", err=True)
        sys.exit(1)
    except Cancelled as exc:
        click.echo(f"amlctl: {exc}", err=True)
        sys.exit(130)  # the shell's code for "stopped by a signal", as for Ctrl-C
    except auto_errors.ConcurrentUpdateError as exc:
        click.echo(f"amlctl: another update of this stack is running; nothing was changed.\n{exc}\n"
                   "If its process is gone (a runner lost on another machine; a dead one on this machine is "
                   f"cleared by itself), remove its lock: amlctl pulumi --stack {stack} -- cancel --yes", err=True)
        sys.exit(1)
    except auto_errors.CommandError as exc:
        # The progress above showed each failed resource and its error; repeat only the errors.
        errors = list(dict.fromkeys(line.strip() for line in str(exc).splitlines() if "error:" in line))
        click.echo("amlctl: the Pulumi engine failed; the state keeps what was done, and a re-run converges"
                   + "".join(f"\n  {e}" for e in errors[-10:]), err=True)
        plugin = re.search(r"install the plugin using `pulumi (plugin install resource \S+ \S+)`", str(exc))
        if plugin:
            # amlctl's engine keeps its plugins in its own PULUMI_HOME: a plain `pulumi plugin
            # install` would put the plugin where this engine does not look.
            click.echo(f"amlctl: install it where amlctl's engine looks: amlctl pulumi --stack {stack} -- "
                       f"{plugin.group(1)}", err=True)
        sys.exit(1)


def _emit_plan(result, fmt: str) -> None:
    from controller.plan import output as plan_output
    if fmt == "json":
        click.echo(plan_output.as_json(result))
    elif fmt == "markdown":
        click.echo(plan_output.markdown(result), nl=False)
    else:
        click.echo(plan_output.text(result, color=sys.stdout.isatty()))


@cli.command("preview")
@STACK
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json", "markdown")), default="text",
              show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
def preview_cmd(stack: str, fmt: str, detailed_exitcode: bool) -> None:
    """A real Pulumi preview of the stack, in plan's formats: the engine's state is the base.

    Needs the engine (and for the Azure target, credentials); `plan` needs neither.
    """
    from controller.engine import operations

    out = _engine_call(operations.preview, _repo_root(), stack)
    _emit_plan(out.plan, fmt)
    sys.exit(2 if detailed_exitcode and out.plan.has_changes else 0)


@cli.command("apply")
@STACK
@click.option("--allow-delete", is_flag=True, help="Allow deleting or replacing (unprotected) resources.")
@click.option("--allow-dirty", is_flag=True, help="Apply a working tree with uncommitted changes.")
@click.option("--yes", is_flag=True, help="Do not show the plan and ask first (CI; required without a terminal).")
def apply_cmd(stack: str, allow_delete: bool, allow_dirty: bool, yes: bool) -> None:
    """Apply the stack: render, check, preview, then update through the Pulumi engine.

    Returns at once when the rendered graph equals the last applied one. Refuses deletions and
    replacements unless --allow-delete, and protected resources always. SIGTERM cancels cleanly
    (exit 130): the engine finishes what is in flight and saves its state.
    """
    from controller.cli.progress import Progress, describe
    from controller.engine import operations
    from controller.plan import output as plan_output

    if not yes and not sys.stdin.isatty():
        raise click.UsageError("apply asks before it changes anything: pass --yes when not run from a terminal")
    with Progress() as progress:
        def confirm(plan) -> bool:  # the engine's plan, once every check has passed
            with progress.paused():
                click.echo(plan_output.text(plan, color=sys.stdout.isatty()) + "\n")
                return click.confirm(f"Apply these changes to stack {stack}?", default=False)

        out = _engine_call(operations.apply, _repo_root(), stack, allow_delete=allow_delete,
                           allow_dirty=allow_dirty, report=progress, confirm=None if yes else confirm)
    if not out.started_engine:
        click.echo(out.message)
        return
    click.echo(f"Resources: {describe(out.changes)}")
    click.echo(f"applied stack {stack}: {out.message}")


@cli.command("drift")
@STACK
@click.option("--fix", is_flag=True, help="Apply the manifests back over what drifted.")
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json", "markdown")), default="text",
              show_default=True, help="markdown: an issue body.")
def drift_cmd(stack: str, fix: bool, fmt: str) -> None:
    """Compare the cloud (or the simulation) with what the last update applied: each drifted
    resource and property, with both values. Exit 0 when nothing drifted, 2 when something did
    (0 after a successful --fix), 1 on error."""
    from controller.cli import drift as report_
    from controller.cli.progress import Progress, describe
    from controller.engine import drift

    with Progress() as progress:
        report = _engine_call(drift.drift, _repo_root(), stack, fix=fix, report=progress)
    click.echo({"json": report_.as_json, "markdown": report_.markdown}.get(fmt, report_.text)(report))
    if report.fixed is not None and fmt == "text":
        click.echo(f"fixed: {describe(report.fixed.changes)}")
    sys.exit(2 if report.drifted and report.fixed is None else 0)


@cli.command("history")
@STACK
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def history_cmd(stack: str, fmt: str) -> None:
    """Each past update of the stack: time, result, commit, author and resource changes."""
    import json as _json

    from controller.cli.progress import describe
    from controller.engine import operations

    updates = _engine_call(operations.history, _repo_root(), stack)
    if fmt == "json":
        click.echo(_json.dumps([u.__dict__ for u in updates], indent=2, sort_keys=True))
        return
    if not updates:
        click.echo(f"Stack {stack} has no updates yet.")
    rows = []
    for u in updates:
        what = (u.result if u.kind == "update" else f"{u.kind} {u.result}") + (" (uncommitted changes)" * u.dirty)
        who = (u.author or "").split(" <", 1)[0]  # the name; -o json has the address
        # amlctl's own messages restate the commit: show its subject; anything else as it was written.
        said = u.message
        if u.subject and u.message.startswith("amlctl apply"):
            said = u.subject
        elif u.subject and u.message.startswith("amlctl drift --fix"):
            said = f"drift --fix, back to: {u.subject}"
        rows.append((f"#{u.version}", str(u.started)[:19], what, (u.commit or "")[:12], who,
                     describe(u.changes), said))
    widths = [max(len(r[i]) for r in rows) for i in range(6)] if rows else []
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[6])


@cli.command("destroy")
@STACK
@click.option("--yes-destroy-stack", metavar="NAME", help="Confirm without a prompt by repeating the stack name.")
def destroy_cmd(stack: str, yes_destroy_stack: str | None) -> None:
    """Delete every resource of the stack. Guarded: type the stack name, or pass
    --yes-destroy-stack NAME. Protected resources make it fail (unprotect them first)."""
    from controller.engine import operations

    if yes_destroy_stack is not None:
        if yes_destroy_stack != stack:
            raise click.UsageError(f"--yes-destroy-stack {yes_destroy_stack!r} does not name the stack {stack!r}")
    elif not sys.stdin.isatty():
        raise click.UsageError("destroy needs --yes-destroy-stack NAME when not run from a terminal")
    elif click.prompt(f"Type the stack name to destroy every resource of {stack}") != stack:
        raise click.UsageError("the name typed is not the stack's: nothing destroyed")
    from controller.cli.progress import Progress, describe

    with Progress() as progress:
        out = _engine_call(operations.destroy, _repo_root(), stack, report=progress)
    click.echo(f"Resources: {describe(out.changes)}")


@cli.command("blame")
@click.argument("resource", metavar="KIND/NAME")
@click.option("-s", "--stack", metavar="NAME", help="Also follow this stack's overlay, and show when each change "
              "reached the stack (its update history; needs the engine and the backend).")
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
        updates[stack] = [audit.Deployment(stack, u.version, u.started, u.commit)
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
    local stacks, Pulumi.yaml, .gitignore, pre-commit, CI pipelines and a README. Overwrites nothing."""
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
    for rel in written:
        if not rel.startswith("schemas/"):
            click.echo(f"  created {rel}")
    click.echo(f"  created schemas/ ({sum(r.startswith('schemas/') for r in written)} JSON Schemas for editors)")
    # apply refuses uncommitted manifests (git history is the audit trail): the first step commits.
    commit = " && git add . && git commit -qm 'amlctl init'" if gitrev.is_repository(directory) else ""
    click.echo(f"\nNext: cd {directory} && amlctl validate{commit} && amlctl apply --stack local --yes\n"
               "Then fill in the subscriptions in stacks/, commit, push, and follow README.md's set-up.")


@cli.command("secrets-provider")
@STACK
@click.argument("provider", default="passphrase", metavar="[passphrase|azurekeyvault://VAULT.vault.azure.net/keys/KEY]")
def secrets_provider_cmd(stack: str, provider: str) -> None:
    """Set up the stack's secrets provider once, in its stack file, to commit: an Azure Key Vault
    key for teams, or a passphrase taken from $PULUMI_CONFIG_PASSPHRASE (CI keeps it as a secret).
    apply and preview refuse a non-local stack without one."""
    from controller.engine import operations

    click.echo(_engine_call(operations.setup_secrets, _repo_root(), stack, provider))


@cli.command("pulumi", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@STACK
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def pulumi_cmd(stack: str, args: tuple[str, ...]) -> None:
    """Run the Pulumi CLI on a stack as amlctl sets it up (backend, project, stack files), for what
    amlctl has no command of its own: `import`, `stack export`, `config set --secret`...

    Example: amlctl pulumi --stack prod -- config set --secret amlctl:openaiKey "$KEY"
    """
    from controller.engine import operations

    if not args:
        raise click.UsageError("give the Pulumi command after --, e.g. amlctl pulumi --stack dev -- stack export")
    code = _engine_call(operations.passthrough, _repo_root(), stack, list(args))
    sys.exit(code)


@cli.command("changed")
@click.option("--base", metavar="REV", help="Default: the merge base with the default branch.")
@click.option("--head", metavar="REV", help="Default: the working tree.")
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


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else 1)
    except SystemExit:
        raise
    except Exception as exc:  # a bug in amlctl, never bad input: say so without a traceback
        if os.environ.get("AMLCTL_DEBUG"):
            raise
        click.echo(f"amlctl: internal error: {type(exc).__name__}: {exc}\n"
                   "This is a bug in amlctl. Run again with AMLCTL_DEBUG=1 for the traceback and report it.",
                   err=True)
        sys.exit(3)
