"""The `amlctl` command line: a thin layer over the Python API.

Exit codes (stable): 0 success, 1 invalid input or failed operation, 2 usage error.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Callable

import click

from controller import __version__
from controller.cli import color

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="amlctl")
@click.option("--color", "color_mode", type=click.Choice(color.MODES), default="auto", show_default=True,
              help="Colour the output: auto is a terminal without NO_COLOR (FORCE_COLOR forces it).")
@click.pass_context
def cli(ctx: click.Context, color_mode: str) -> None:
    """GitOps for Azure Machine Learning: validate, plan and apply an estate kept as YAML in git."""
    ctx.meta[color.KEY] = color_mode
    # click.echo strips styles from a stream that is not a terminal unless told otherwise: tell it
    # what the mode and environment decided (None leaves it to the terminal, per stream).
    ctx.color = color.forced(color_mode, os.environ)


def _failed(diags: list, what: str) -> None:
    """Print the problems that stop a render or plan, then exit 1."""
    coloured = color.on(err=True)
    for d in diags:
        line = d.format()
        if coloured:
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
    """The one callback of every --stack: a stack of the working tree (of --head's revision for
    plan, whose --head is eager so that it is parsed first); a typo is a usage error (exit 2) that
    lists the stacks there are."""
    from controller import gitrev
    from controller.revisions import stacks_at
    from controller.stacks import StackNameError, check_name
    if value is None:
        return value
    try:
        check_name(value)
    except StackNameError as exc:
        raise click.BadParameter(str(exc)) from None
    root = _repo_root()
    rev = ctx.params.get("head")
    if rev:
        try:
            rev = gitrev.resolve(root, rev)
        except gitrev.GitError:
            return value  # the command says what is wrong with the revision
    names = stacks_at(root, rev)
    if value not in names:
        where = f" at {ctx.params['head']}" if rev else ""
        raise click.BadParameter(f"no stack {value!r}{where}: no stack file stacks/Pulumi.{value}.yaml "
                                 f"(the stacks: {', '.join(names) or 'none'})")
    return value


def stack_option(required: bool = True, help: str = "The stack (stacks/Pulumi.NAME.yaml).") -> Callable:
    return click.option("-s", "--stack", required=required, metavar="NAME", callback=_existing_stack, help=help)


STACK = stack_option()


def _revision(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty --head or --base is a mistake (an unset variable in CI), never "the default"."""
    if value is not None and not value.strip():
        default = "the working tree" if param.name == "head" else "the merge base with the default branch"
        raise click.BadParameter(f"an empty revision: name a commit, branch or tag, or leave --{param.name} out "
                                 f"for {default}")
    return value


def revision_option(name: str, help: str) -> Callable:
    # --head is eager: --stack's callback reads the stack at that revision.
    return click.option(f"--{name}", metavar="REV", callback=_revision, is_eager=name == "head", help=help)


def _engine_call(fn, *args, **kwargs):
    from pulumi.automation import errors as auto_errors

    from controller.engine.binary import EngineMissing
    from controller.engine.interrupt import Stopped
    from controller.engine.operations import Cancelled, Declined, Refused, StateError
    stack = args[1] if len(args) > 1 and isinstance(args[1], str) else "STACK"  # fn(root, stack, ...)
    try:
        return fn(*args, **kwargs)
    except (Refused, Declined, EngineMissing, StateError) as exc:
        click.echo(f"amlctl: {exc}", err=True)
        sys.exit(1)
    except (Cancelled, Stopped) as exc:
        click.echo(f"amlctl: {exc}", err=True)
        sys.exit(130)  # the shell's code for "stopped by a signal", as for Ctrl-C
    except auto_errors.ConcurrentUpdateError as exc:
        from controller.engine.interrupt import holder_in, lock_holder
        from controller.engine.operations import backend_url
        holder = (lock_holder(backend_url(args[0], stack), stack) if len(args) > 1 else None) or holder_in(str(exc))
        said = holder or next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        click.echo(f"amlctl: another update of stack {stack} is running ({said}); nothing was changed. If its "
                   "process is gone (a runner lost on another machine; a dead one on this machine is cleared by "
                   f"itself), remove its lock: amlctl pulumi --stack {stack} -- cancel --yes", err=True)
        sys.exit(1)
    except OSError as exc:  # the state directory, the checkout: I/O at the edge, never a traceback
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"amlctl: cannot read or write{where}: {exc.strerror or exc}", err=True)
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
        click.echo(plan_output.text(result, color=color.on()))


def _plan_exit(result, detailed_exitcode: bool) -> None:
    """plan's and preview's exit: 1 when apply would not go ahead (errors, or what it refuses, as
    its summary says), else 0, or 2 with --detailed-exitcode when there are changes."""
    from controller import plan as P
    if result.errors or P.refused(result):
        sys.exit(1)
    sys.exit(2 if detailed_exitcode and result.has_changes else 0)


def main() -> None:
    from controller.engine.interrupt import Cancelled, Stopped, stoppable
    try:
        # A stop at any moment from here ends the command with 130: before the engine starts, as
        # Ctrl-C; while it runs, as its own cancel (controller.engine.interrupt).
        with stoppable(final=True):
            cli(standalone_mode=False)
    except (Stopped, Cancelled) as exc:
        click.echo(f"amlctl: {exc}", err=True)
        sys.exit(130)
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


# The commands register themselves on `cli` when their modules load (after everything above,
# which they import).
from controller.cli import adopt, deploy, engines, offline, rollout  # noqa: E402,F401
