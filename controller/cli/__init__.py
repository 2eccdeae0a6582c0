"""The `amlctl` command line: a thin layer over the Python API.

Exit codes (stable): 0 success, 1 invalid input or failed operation, 2 usage error.
"""
from __future__ import annotations

import os
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
    else:
        kinds = Counter(m.kind for m in report.manifests)
        stacks = [f"{st.name} ({st.target}{', production' if st.production else ''})" for st in report.stacks]
        line = output.inventory(dict(kinds), stacks) if report.manifests else ""
        click.echo(output.text(report.diagnostics, report.files, n, color=sys.stdout.isatty(), inventory_line=line))
    sys.exit(0 if report.ok else 1)


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
