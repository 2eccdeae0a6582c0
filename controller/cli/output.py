"""Rendering diagnostics for people (text), programs (json), GitHub (annotations) and code
scanning (SARIF 2.1.0)."""
from __future__ import annotations

import json
from typing import Iterable

import click

from controller import __version__
from controller.diagnostics import CODES, Diagnostic, Severity

FORMATS = ("text", "json", "github", "azure-pipelines", "sarif")


def summary(diags: list[Diagnostic], files: int, manifests: int) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = len(diags) - errors
    verdict = "invalid" if errors else "valid"
    return (f"{verdict}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
            f"in {files} file{'s' * (files != 1)} ({manifests} manifest{'s' * (manifests != 1)})")


def inventory(kinds: dict[str, int], stacks: list[str]) -> str:
    """One line saying what was validated: manifests by kind, and the stacks."""
    parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return f"manifests: {parts or 'none'}" + (f"; stacks: {', '.join(stacks)}" if stacks else "")


def text(diags: list[Diagnostic], files: int, manifests: int, color: bool, inventory_line: str = "") -> str:
    lines = []
    for d in diags:
        line = d.format()
        if color:
            tag = f"{d.severity.value}[{d.code}]"
            line = line.replace(tag, click.style(tag, fg="red" if d.severity is Severity.ERROR else "yellow",
                                                 bold=True), 1)
        lines.append(line)
    if inventory_line:
        lines.append(inventory_line)
    lines.append(summary(diags, files, manifests))
    return "\n".join(lines)


def as_json(diags: list[Diagnostic], files: int, manifests: int) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diags)
    doc = {
        "version": 1,
        "valid": errors == 0,
        "summary": {"errors": errors, "warnings": len(diags) - errors, "files": files, "manifests": manifests},
        "diagnostics": [
            {"path": d.path, "line": d.line, "column": d.col, "severity": d.severity.value, "code": d.code,
             "rule": d.rule, "subject": d.subject or None, "stack": d.stack or None, "message": d.message}
            for d in diags
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=False)


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github(diags: list[Diagnostic], files: int, manifests: int) -> str:
    """GitHub Actions workflow commands: each becomes an annotation on the pull request's diff."""
    lines = []
    for d in diags:
        props = [f"file={_escape_property(d.path)}"]
        if d.line:
            props.append(f"line={d.line}")
        if d.col:
            props.append(f"col={d.col}")
        props.append(f"title={_escape_property(f'amlctl {d.code} {d.rule}')}")
        lines.append(f"::{d.severity.value} {','.join(props)}::{_escape_data(d.text)}")
    lines.append(summary(diags, files, manifests))
    return "\n".join(lines)


def _escape_vso(s: str) -> str:
    # Azure Pipelines' logging-command escapes (its "%AZP25" for a literal percent sign).
    return (s.replace("%", "%AZP25").replace(";", "%3B").replace("]", "%5D")
            .replace("\r", "%0D").replace("\n", "%0A"))


def azure_pipelines(diags: list[Diagnostic], files: int, manifests: int) -> str:
    """Azure Pipelines logging commands: each problem becomes an issue on the run, with its file and line."""
    lines = []
    for d in diags:
        props = [f"type={d.severity.value}", f"sourcepath={_escape_vso(d.path)}"]
        if d.line:
            props.append(f"linenumber={d.line}")
        if d.col:
            props.append(f"columnnumber={d.col}")
        props.append(f"code={_escape_vso(d.code)}")
        lines.append(f"##vso[task.logissue {';'.join(props)}]{_escape_vso(d.text)}")
    lines.append(summary(diags, files, manifests))
    return "\n".join(lines)


def sarif(diags: Iterable[Diagnostic]) -> str:
    diags = list(diags)
    codes = sorted(CODES)
    rules = [{"id": c, "name": CODES[c][0], "shortDescription": {"text": CODES[c][1]},
              "defaultConfiguration": {"level": "warning" if c == "M002" else "error"}} for c in codes]
    results = []
    for d in diags:
        region = {"startLine": max(d.line, 1)}
        if d.col:
            region["startColumn"] = d.col
        results.append({
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": d.severity.value,
            "message": {"text": d.text},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": d.path, "uriBaseId": "%SRCROOT%"},
                                                "region": region}}],
        })
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "amlctl", "version": __version__,
                                "informationUri": "https://amlctl.dev", "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2)
