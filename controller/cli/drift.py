"""A drift report for people (text), programs (json) and issues (markdown).

Values are shown as `plan` shows them (secrets never are: the engine's report carries only their
markers), with the manifest line behind each resource and property.
"""
from __future__ import annotations

import json
from typing import Any

import click

from controller.cli.progress import describe
from controller.engine.drift import Drift, Drifted
from controller.plan.output import COLOUR, changed_parts, show
from controller.render.graph import type_name

FORMATS = ("text", "json", "markdown")
# What the engine would do to put a drifted resource back, as a reader would say it.
RESTORE = {"update": "changed in the cloud", "create": "gone from the cloud", "replace": "changed in the cloud",
           "create-replacement": "changed in the cloud", "delete": "not in git"}
SYMBOL = {"update": "~", "create": "+", "replace": "-/+", "create-replacement": "-/+", "delete": "-"}


def _compared(report: Drift) -> str:
    return (f"commit {report.applied[:12]}, the last one applied" if report.applied
            else "the working tree")


def _property_lines(d: Drifted) -> list[tuple[str, str]]:
    """(text, source) per drifted property: values where the report has them."""
    known = {c.path: c for c in d.changes}
    out = []
    for path in d.properties:
        c = known.get(path)
        if c is None:
            out.append((path, ""))
        elif c.before == c.after:  # a secret: both sides are its marker
            out.append((f"{path}: {show(c.after)} differs", c.source))
        else:
            cloud, git = changed_parts(c.before, c.after)  # long values: the part that differs
            out.append((f"{path}: {cloud} in the cloud, {git} in git", c.source))
    return out


# plan's colours for what the fix would do
ACTION = {"update": "update", "create": "create", "replace": "replace", "create-replacement": "replace",
          "delete": "delete"}


def text(report: Drift, color: bool = False) -> str:
    lines = []
    for d in report.drifted:
        head = f"{SYMBOL.get(d.op, '~'):>3} {type_name(d.type)} {d.name}"
        if color:
            head = click.style(head, fg=COLOUR.get(ACTION.get(d.op, "update")), bold=True)
        lines.append(f"{head}  [{RESTORE.get(d.op, d.op)}]")
        if d.subject:
            lines.append(f"      from {d.subject}" + (f" at {d.source}" if d.source else ""))
        for prop, source in _property_lines(d):
            lines.append(f"      ~ {prop}" + (f"  ({source})" if source and source != d.source else ""))
    if report.drifted:
        lines += ["", f"Drift: {len(report.drifted)} resource(s) of stack {report.stack} differ from "
                      f"{_compared(report)}."]
    else:
        lines.append(f"No drift in stack {report.stack} (compared with {_compared(report)}).")
    return "\n".join(lines)


def as_dict(report: Drift) -> dict[str, Any]:
    return {
        "format": "amlctl.dev/drift/v1",
        "stack": report.stack,
        "applied_commit": report.applied,
        "fixed": report.fixed is not None,
        "fix_changes": dict(sorted(report.fixed.changes.items())) if report.fixed else None,
        "drifted": [{"name": d.name, "type": d.type, "op": d.op, "subject": d.subject, "source": d.source or None,
                     "properties": list(d.properties),
                     "changes": [{"path": c.path, "cloud": c.before, "git": c.after, "source": c.source or None}
                                 for c in d.changes]}
                    for d in report.drifted],
    }


def as_json(report: Drift) -> str:
    return json.dumps(as_dict(report), indent=2, sort_keys=True, ensure_ascii=False)


def markdown(report: Drift) -> str:
    """An issue body: one table row per resource, then each property with both values."""
    if not report.drifted:
        return f"No drift in stack `{report.stack}` (compared with {_compared(report)})."
    lines = [f"<!-- amlctl-drift stack={report.stack} -->",
             f"**{len(report.drifted)} resource(s) of stack `{report.stack}` differ from {_compared(report)}.**",
             "", "| | resource | manifest | what differs |", "|---|---|---|---|"]
    for d in report.drifted:
        where = f"`{d.subject}` `{d.source}`" if d.subject else ""
        props = "<br>".join(f"`{p}`" for p in d.properties) or RESTORE.get(d.op, d.op)
        lines.append(f"| {SYMBOL.get(d.op, '~')} | `{d.name}` ({type_name(d.type)}) | {where} | {props} |")
    lines += ["", "<details><summary>Values</summary>", "", "```"]
    for d in report.drifted:
        lines.append(f"{d.name}  [{RESTORE.get(d.op, d.op)}]")
        lines += [f"  ~ {p}" + (f"  ({s})" if s else "") for p, s in _property_lines(d)]
    lines += ["```", "", "</details>", ""]
    if report.fixed is not None:
        lines.append(f"Put back by `amlctl drift --fix`: {describe(report.fixed.changes)}.")
    else:
        lines.append(f"Put the cloud back with `amlctl drift --stack {report.stack} --fix`, "
                     "or change the manifests to match.")
    return "\n".join(lines)
