"""azure-ai-ml's own words for why it refuses a spec (R010), on one line.

Its schema errors nest JSON reports ("Validation for PipelineJobSchema failed: {...}") inside each
other, and their first line alone says only that validation failed; what a user needs is the
innermost field and message ("jobs.train.component: Missing data for required field.").
"""
from __future__ import annotations

import json
from typing import Any


def reason(e: Exception) -> str:
    """azure-ai-ml's own words for why it refused a job. Its schema errors nest JSON reports
    ("Validation for CommandJobSchema failed: {...}") inside each other; what matters is the
    innermost field and message, e.g. "identity.resource_id: Unknown field.". Of the alternatives
    of a union field (an input is a literal or one of several data shapes), the closest one, the
    one with the fewest complaints, is the one meant."""
    text = str(e).strip()
    found: list[str] = []
    if _report(text, (), found) and found:
        return "; ".join(sorted(dict.fromkeys(found)))  # sorted: azure-ai-ml's order is a set's
    flat = " ".join(text.split())
    return flat[:600] + ("..." if len(flat) > 600 else "") if flat else type(e).__name__


def _report(text: str, path: tuple, out: list[str]) -> bool:
    start = text.find("failed:")
    brace = text.find("{", start) if start >= 0 else -1
    if brace < 0:
        return False
    try:
        report, _ = json.JSONDecoder().raw_decode(text[brace:])
    except ValueError:
        return False
    out.extend(_messages(report, path))
    return True


def _messages(node: Any, path: tuple) -> list[str]:
    where = ".".join(p for p in path if p != "_schema")  # marshmallow's key for whole-object errors
    out: list[str] = []
    if isinstance(node, dict) and isinstance(node.get("errors"), list):
        for err in node["errors"]:
            if not isinstance(err, dict):
                continue
            sub = path + ((str(err["path"]),) if err.get("path") not in (None, "", "*") else ())
            message = str(err.get("message", ""))
            if not _report(message, sub, out):
                first = message.strip().splitlines()[0] if message.strip() else "invalid"
                shown = ".".join(sub)
                out.append(f"{shown}: {first}" if shown else first)
    elif isinstance(node, dict):
        for k, v in node.items():
            out += _messages(v, path + (str(k),))
    elif isinstance(node, list):
        alternatives = [_messages(v, path) for v in node if isinstance(v, dict)]
        out += [m for v in node if not isinstance(v, dict) for m in _messages(v, path)]
        if alternatives:
            out += min(alternatives, key=len)
    elif node is not None:
        out.append(f"{where}: {node}" if where else str(node))
    return out
