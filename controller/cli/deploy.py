"""The commands that run the Pulumi engine: preview, apply, drift, history, destroy,
secrets-provider and pulumi."""
from __future__ import annotations

import sys

import click

from controller.cli import STACK, _emit_plan, _engine_call, _plan_exit, _repo_root, cli, color


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
    for w in out.waiting:  # left out of (or kept as last applied in) what the engine previewed
        click.echo(f"waiting: {w.describe()}", err=True)
    from controller.cli.rollout import print_reports
    print_reports(out.rollouts, err=True)
    _plan_exit(out.plan, detailed_exitcode)


OUTCOME = click.option("-o", "--output", "fmt", type=click.Choice(("text", "json")), default="text",
                       show_default=True, help="json: the outcome on stdout (changes, plan, message, whether the "
                       "engine started); progress stays on stderr.")


def _progress(fmt: str):
    from controller.cli.progress import Progress
    return Progress(err=fmt == "json", color=color.on)


@cli.command("apply")
@STACK
@click.option("--allow-delete", is_flag=True, help="Allow deleting or replacing (unprotected) resources.")
@click.option("--allow-dirty", is_flag=True, help="Apply a working tree with uncommitted changes.")
@click.option("--yes", is_flag=True, help="Do not show the plan and ask first (CI; required without a terminal).")
@OUTCOME
def apply_cmd(stack: str, allow_delete: bool, allow_dirty: bool, yes: bool, fmt: str) -> None:
    """Apply the stack: render, check, preview, then update through the Pulumi engine.

    Returns at once when the rendered graph equals the last applied one. Refuses deletions and
    replacements unless --allow-delete, and protected resources always. SIGTERM cancels cleanly
    (exit 130): the engine finishes what is in flight and saves its state.
    """
    from controller.cli.progress import describe
    from controller.cli.reports import outcome_json
    from controller.engine import operations
    from controller.plan import output as plan_output

    if not yes and not sys.stdin.isatty():
        raise click.UsageError("apply asks before it changes anything: pass --yes when not run from a terminal")
    err = fmt == "json"  # the question goes where the progress goes: stdout is the result's
    with _progress(fmt) as progress:
        def confirm(plan) -> bool:  # the engine's plan, once every check has passed
            with progress.paused():
                click.echo(plan_output.text(plan, color=color.on(err)) + "\n", err=err)
                return click.confirm(f"Apply these changes to stack {stack}?", default=False, err=err)

        out = _engine_call(operations.apply, _repo_root(), stack, allow_delete=allow_delete,
                           allow_dirty=allow_dirty, report=progress, confirm=None if yes else confirm)
    if fmt == "json":
        click.echo(outcome_json("apply", stack, out))
        sys.exit(1 if out.failed_release else 0)
    if not out.started_engine:
        click.echo(out.message)
    else:
        click.echo(f"Resources: {describe(out.changes)}")
        click.echo(f"applied stack {stack}: {out.message}")
    if out.waiting:  # not an error: a later apply (the scheduled one) moves them on
        click.echo(f"{len(out.waiting)} waiting for a run to complete (a later apply applies them):")
        for w in out.waiting:
            click.echo(f"  {w.describe()}")
    from controller.cli.rollout import print_reports
    print_reports(out.rollouts)
    if out.failed_release:  # applied, but the release failed: the job that ran it says so
        sys.exit(1)


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

    with Progress(err=fmt != "text", color=color.on) as progress:  # stdout: the report alone
        report = _engine_call(drift.drift, _repo_root(), stack, fix=fix, report=progress)
    if fmt == "text":
        click.echo(report_.text(report, color=color.on()))
    else:
        click.echo({"json": report_.as_json, "markdown": report_.markdown}[fmt](report))
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
    from controller.cli.reports import iso_time
    from controller.engine import operations

    updates = _engine_call(operations.history, _repo_root(), stack)
    if fmt == "json":
        click.echo(_json.dumps([{**u.__dict__, "started": iso_time(u.started)} for u in updates], indent=2,
                               sort_keys=True))
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
        rows.append((f"#{u.version}", iso_time(u.started), what, (u.commit or "")[:12], who,
                     describe(u.changes), said))
    widths = [max(len(r[i]) for r in rows) for i in range(6)] if rows else []
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[6])


@cli.command("destroy")
@STACK
@click.option("--yes-destroy-stack", metavar="NAME", help="Confirm without a prompt by repeating the stack name.")
@OUTCOME
def destroy_cmd(stack: str, yes_destroy_stack: str | None, fmt: str) -> None:
    """Delete every resource of the stack. Guarded: type the stack name, or pass
    --yes-destroy-stack NAME. Protected resources make it fail (unprotect them first)."""
    from controller.engine import operations

    if yes_destroy_stack is not None:
        if yes_destroy_stack != stack:
            raise click.UsageError(f"--yes-destroy-stack {yes_destroy_stack!r} does not name the stack {stack!r}")
    elif not sys.stdin.isatty():
        raise click.UsageError("destroy needs --yes-destroy-stack NAME when not run from a terminal")
    elif click.prompt(f"Type the stack name to destroy every resource of {stack}", err=fmt == "json") != stack:
        raise click.UsageError("the name typed is not the stack's: nothing destroyed")
    from controller.cli.progress import describe
    from controller.cli.reports import outcome_json

    with _progress(fmt) as progress:
        out = _engine_call(operations.destroy, _repo_root(), stack, report=progress)
    if fmt == "json":
        click.echo(outcome_json("destroy", stack, out))
    else:
        click.echo(f"Resources: {describe(out.changes)}")


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


@cli.command("recover")
@STACK
def recover_cmd(stack: str) -> None:
    """Put back the newest whole copy of a stack's state that the engine cannot load (a full disk or
    a killed write tore it); the torn file is kept beside it. The next apply redoes what came after
    that copy. Exit 0 when restored or nothing to do, 1 when no whole copy is left."""
    from controller.engine import operations

    click.echo(_engine_call(operations.recover, _repo_root(), stack))
