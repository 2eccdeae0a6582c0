"""A Plan for people (text, colour on a terminal only), programs (json) and pull requests (markdown).

The markdown form is a pull-request comment: the summary table first, per-resource details folded,
and never more than GitHub's 65,536-character limit (we stop at 65,000): what does not fit is
summarised, never cut mid-line.
"""
from __future__ import annotations

import json
from typing import Any

import click

from controller import plan as P
from controller.plan import CREATE, DELETE, KEEP, REPLACE, UPDATE, Plan, PropertyChange, firetimes

FORMATS = ("text", "json", "markdown")
MARKDOWN_LIMIT = 65_000
SYMBOL = {CREATE: "+", UPDATE: "~", REPLACE: "-/+", DELETE: "-", KEEP: "="}
COLOUR = {CREATE: "green", UPDATE: "yellow", REPLACE: "magenta", DELETE: "red", KEEP: "cyan"}
MAX_VALUE = 160


def _marker(value: Any) -> str | None:
    """How a marker ($secret, $output, ...) reads; None when the value is no marker."""
    if isinstance(value, dict) and len(value) == 1:
        (k, v), = value.items()
        # The engine's side of a plan (preview) holds markers as the target keeps them: an asset
        # by its hash only, a secret without its source. Every field is optional here.
        v = v if isinstance(v, dict) else {}
        if k == "$secret":
            source = v.get("config") or v.get("keyVault")
            return f"(secret from {source})" if source else "(secret)"
        if k == "$output":
            return f"(known after apply: {v.get('resource')}.{v.get('property')})"
        if k == "$asset":
            where = f"file {v['path']} " if v.get("path") else ""
            return f"({where}sha256:{str(v.get('sha256', ''))[:12]})" if v.get("sha256") else f"({where.strip() or 'a file'})"
        if k == "$latest":
            return f"(the latest version of {v.get('kind')} {v.get('name')} in Azure, read at deploy time)"
        if k == "$clientConfig":
            return f"(the deploying identity's {v})"
        if k == "$runOutput":
            run = str(v.get("run", "")).rsplit("/", 1)[-1] or v.get("of")
            return f"(model {v.get('asset')} that run {run} registers: known once the run completes)"
        if k == "$json":
            return "(JSON text" + (", holding a secret)" if "$secret" in json.dumps(v) else ")")
    return None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)


def _cut(text: str) -> str:
    """A long value's start and end, the middle elided: the end of an ARM id (`.../versions/7`)
    is what tells it from its neighbours."""
    if len(text) <= MAX_VALUE:
        return text
    keep = (MAX_VALUE - 20) // 2
    return f"{text[:keep]}...{text[-keep:]} ({len(text)} chars)"


def show(value: Any) -> str:
    """A value as one line. Markers read as what they are; secrets are never values here."""
    marker = _marker(value)
    if marker is not None:
        return marker
    if value is None:
        return "(none)"
    return _cut(_json(value))


def changed_parts(before: Any, after: Any) -> tuple[str, str]:
    """Both sides of a change, for plan and drift alike. Short values as `show` writes them; when
    either is too long for a line, the part that differs instead, the common start and end elided
    with "...", so `.../versions/1` -> `.../versions/2` of two long ARM ids stays visible (cutting
    both at the same length would show the same prefix twice). Strings are compared as text,
    anything else (lists, objects) as its JSON."""
    if _marker(before) is not None or _marker(after) is not None or before is None or after is None:
        return show(before), show(after)
    strings = isinstance(before, str) and isinstance(after, str)
    if len(_json(before)) <= MAX_VALUE and len(_json(after)) <= MAX_VALUE:
        return show(before), show(after)
    a, b = (before, after) if strings else (_json(before), _json(after))
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    # Context before the change: the three path segments that lead to it (when they are short),
    # else 20 characters; 20 characters after it.
    slashes = [i for i, ch in enumerate(a[:start]) if ch == "/"]
    start = slashes[-3] + 1 if len(slashes) >= 3 and start - slashes[-3] <= 80 else max(0, start - 20)
    end = max(0, end - 20)

    def part(s: str) -> str:
        piece = ("..." if start else "") + s[start:len(s) - end] + ("..." if end else "")
        return _cut(json.dumps(piece) if strings else piece)
    return part(a), part(b)


def _prop_line(p: PropertyChange, where: bool = False) -> str:
    """One property as Terraform writes it: `+ key = value`, `- key = value`, `~ key = old -> new`."""
    note = "  # forces replacement" if p.forces_replace else ""
    if where and p.source:
        note += f"  ({p.source})"
    if p.before is None:
        return f"+ {p.path} = {show(p.after)}{note}"
    if p.after is None:
        return f"- {p.path} = {show(p.before)}{note}"
    before, after = changed_parts(p.before, p.after)
    return f"~ {p.path} = {before} -> {after}{note}"


def apply_gate(plan: Plan) -> list[str]:
    """What apply will do with this plan, when it is not simply "go ahead": one line each, for
    every format (the rule is controller.plan's, which apply itself asks)."""
    lines = []
    # A change an error already explains (P001: a changed asset version, refused as immutable) is
    # not said again, with advice to unprotect that would not fit.
    explained = {d.subject for d in plan.errors}
    refused = [c for c in P.refused(plan) if c.subject not in explained]
    if refused:
        lines.append(f"apply will refuse: it deletes or replaces {len(refused)} protected resource(s) ("
                     + _names(refused) + "); unprotect them first (amlctl:protect in the stack file)")
    destructive = [c for c in P.needs_allow_delete(plan) if c not in P.refused(plan) and c.subject not in explained]
    if destructive:
        lines.append(f"apply needs --allow-delete: it deletes or replaces {len(destructive)} resource(s) ("
                     + _names(destructive) + ")")
    return lines


def fire_times_note(plan: Plan) -> str:
    """What the plan's fire times count from: "next" means nothing without a moment."""
    why = {"the clock": f"the clock at plan time; {firetimes.ENV} sets it",
           firetimes.ENV: f"${firetimes.ENV}"}.get(plan.fire_times_basis, plan.fire_times_basis)
    return f"Fire times are the next after {plan.fire_times_from} ({why})."


def _names(changes: list) -> str:
    return ", ".join(c.name for c in changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")


# -- text -----------------------------------------------------------------------------------------
def text(plan: Plan, color: bool = False, details: bool = True) -> str:
    def style(s: str, **kw: Any) -> str:
        return click.style(s, **kw) if color else s

    lines = [f"Stack {plan.stack}: {plan.base} -> {plan.head}", ""]
    for c in plan.changes:
        head = f"{SYMBOL[c.action]:>3} {c.type_name} {c.name}"
        lines.append(style(head, fg=COLOUR[c.action], bold=True) + f"  [{c.label}]")
        where = f"      from {c.subject}" + (f" at {c.source}" if c.source else "")
        lines.append(style(where, dim=True))
        for f in c.fire_times:
            lines.append("      " + firetimes.text(f))
        if details:  # a create lists what it sets, as Terraform does; an update what it changes
            for p in c.properties:
                lines.append("      " + _prop_line(p, c.action in (UPDATE, REPLACE)))
    if plan.roles:
        lines += ["", "Role assignments:"]
        for r in plan.roles:
            sign = "+" if r.action == "grant" else "-"
            lines.append(style(f"  {sign} {r.role}", fg="green" if sign == "+" else "red") +
                         f" for {r.principal} on {r.scope}")
    if plan.rollouts:
        lines += ["", "Rollouts:"] + [f"  {r}" for r in plan.rollouts]
    if plan.fire_times_from:
        lines += ["", fire_times_note(plan)]
    for d in plan.diagnostics:
        lines.append(d.format())
    if plan.changes or plan.roles:
        lines.append("")
    lines.append(style(plan.summary() if plan.changes else f"No changes. {plan.unchanged} resources unchanged.",
                       bold=True))
    for line in apply_gate(plan):
        lines.append(style(line, fg="red" if line.startswith("apply will refuse") else "yellow", bold=True))
    if plan.errors:
        lines.append(style(f"{len(plan.errors)} error(s): this change cannot be applied as it is.", fg="red", bold=True))
    return "\n".join(lines)


# -- json -----------------------------------------------------------------------------------------
def as_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format": "amlctl.dev/plan/v1",
        "stack": plan.stack, "base": plan.base, "head": plan.head,
        "summary": {"create": plan.count(CREATE), "update": plan.count(UPDATE), "replace": plan.count(REPLACE),
                    "delete": plan.count(DELETE), "keep": plan.count(KEEP), "unchanged": plan.unchanged},
        "changes": [{"action": c.action, "name": c.name, "type": c.type, "subject": c.subject, "source": c.source,
                     "label": c.label, "protected": c.protected, "release": c.release,
                     "fire_times": [{"action": f.action or None, "time_zone": f.time_zone, "next": list(f.times),
                                     "note": f.note or None} for f in c.fire_times],
                     "properties": [{"path": p.path, "before": p.before, "after": p.after,
                                     "forces_replace": p.forces_replace, "source": p.source or None}
                                    for p in c.properties]}
                    for c in plan.changes],
        # What apply does with it: refused (protected deletes or replaces), or only with --allow-delete.
        "apply": {"will_refuse": bool(P.refused(plan)), "refused": [c.name for c in P.refused(plan)],
                  "needs_allow_delete": [c.name for c in P.needs_allow_delete(plan)], "notes": apply_gate(plan)},
        "roles": [{"action": r.action, "role": r.role, "principal": r.principal, "scope": r.scope,
                   "source": r.source} for r in plan.roles],
        "rollouts": list(plan.rollouts),
        "fire_times_from": ({"time": plan.fire_times_from, "basis": plan.fire_times_basis}
                            if plan.fire_times_from else None),
        "diagnostics": [{"path": d.path, "line": d.line, "col": d.col, "code": d.code, "severity": d.severity.value,
                         "message": d.message, "subject": d.subject} for d in plan.diagnostics],
    }


def as_json(plan: Plan) -> str:
    return json.dumps(as_dict(plan), indent=2, sort_keys=True, ensure_ascii=False)


# -- markdown -------------------------------------------------------------------------------------
def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _overlaid(c) -> str:
    """The stack-file lines behind an update, for the table: a reviewer of a stack-file change
    sees it there, not only in the folded details."""
    if c.action not in (UPDATE, REPLACE):
        return ""
    manifest = (c.source or "").split(":", 1)[0]
    lines = sorted({p.source for p in c.properties if p.source and p.source.split(":", 1)[0] != manifest})
    return "".join(f" via `{_md_escape(line)}`" for line in lines[:3]) + (" ..." if len(lines) > 3 else "")


def comment_marker(stack: str) -> str:
    """The hidden first line of a plan comment: CI finds the comment it posted for a stack by it
    and edits that one instead of adding another."""
    return f"<!-- amlctl-plan stack={stack} -->"


def markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    head = [comment_marker(plan.stack), f"### amlctl plan: stack `{plan.stack}`", "",
            f"`{_md_escape(plan.base)}` → `{_md_escape(plan.head)}`", ""]
    if plan.errors:
        head += [f"> [!CAUTION]\n> {len(plan.errors)} error(s): this change cannot be applied as it is.", ""]
        head += [f"- `{d.path}:{d.line}` **{d.code}** {_md_escape(d.message)}" for d in plan.errors] + [""]
    for line in apply_gate(plan):
        kind = "WARNING" if line.startswith("apply will refuse") else "NOTE"
        head += [f"> [!{kind}]\n> {_md_escape(line)}", ""]
    head += ["| | create | update | replace | delete | kept in Azure | unchanged |", "|---|---|---|---|---|---|---|",
             f"| **{plan.stack}** | {plan.count(CREATE)} | {plan.count(UPDATE)} | {plan.count(REPLACE)} | "
             f"{plan.count(DELETE)} | {plan.count(KEEP)} | {plan.unchanged} |", ""]
    if plan.rollouts:
        head += ["#### Rollouts", ""] + [f"- {_md_escape(r)}" for r in plan.rollouts] + [""]
    if not plan.changes:
        head.append("No changes.")
        return "\n".join(head) + "\n"
    if plan.fire_times_from:
        head += [_md_escape(fire_times_note(plan)), ""]
    head += ["| | resource | what it means | manifest |", "|---|---|---|---|"]
    rows = [f"| {SYMBOL[c.action]} | `{c.type_name}` {_md_escape(c.name)} | {_md_escape(c.label)}"
            + "".join(f"<br>{_md_escape(firetimes.text(f))}" for f in c.fire_times) + " | "
            f"`{_md_escape(c.source or c.subject)}`{_overlaid(c)} |" for c in plan.changes]
    roles = []
    if plan.roles:
        roles = ["", "#### Role assignments", ""] + [
            f"- {'➕ grant' if r.action == 'grant' else '➖ revoke'} **{_md_escape(r.role)}** to "
            f"{_md_escape(r.principal)} on `{_md_escape(r.scope)}`" for r in plan.roles]
    details = []
    for c in plan.changes:
        if not c.properties:
            continue
        body = "\n".join(_prop_line(p, c.action in (UPDATE, REPLACE)) for p in c.properties)
        details.append(f"<details><summary>{SYMBOL[c.action]} {_md_escape(c.name)} "
                       f"({len(c.properties)} propert{'y' if len(c.properties) == 1 else 'ies'})</summary>\n\n"
                       f"```diff\n{body.replace('```', '` ` `')}\n```\n</details>")
    out = list(head)
    budget = limit - 400  # room for the overflow note and the footer

    def size(parts: list[str]) -> int:
        return sum(len(p) + 1 for p in parts)

    omitted_rows = omitted_details = 0
    for row in rows:
        if size(out) + len(row) + 1 > budget - size(roles):
            omitted_rows += 1
            continue
        out.append(row)
    out += roles
    if details:
        out += ["", "#### Details", ""]
    for d in details:
        if size(out) + len(d) + 1 > budget:
            omitted_details += 1
            continue
        out.append(d)
    if omitted_rows or omitted_details:
        out += ["", f"> {omitted_rows} more change(s) and {omitted_details} more detail block(s) do not fit in a "
                    "comment: run `amlctl plan --stack "
                    f"{plan.stack}` or see the job's plan artifact (`--output json`) for all of them."]
    out += ["", f"<sub>{'. '.join([plan.summary(), *apply_gate(plan)])}</sub>"]
    return "\n".join(out) + "\n"
