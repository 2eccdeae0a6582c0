"""What the engine commands print, as data: an apply's or destroy's outcome for programs
(--output json), and update times with their time zone.

The operations return their own types (controller.engine.operations.Outcome, Update); this is
only how the command line writes them.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


def outcome_dict(command: str, stack: str, out: Any) -> dict[str, Any]:
    """An Outcome (started_engine, changes, plan, message) as the JSON document of `apply` and
    `destroy`: what changed (the engine's counts), the plan it applied, and what it said."""
    from controller.plan import output as plan_output
    return {
        "format": f"amlctl.dev/{command}/v1",
        "stack": stack,
        "started_engine": out.started_engine,
        "changes": dict(sorted(out.changes.items())),
        "message": out.message,
        "plan": plan_output.as_dict(out.plan) if out.plan is not None else None,
        # What waits for a run to complete (controller.runs): applied by a later apply.
        "waiting": [{"resource": w.resource, "run": w.run, "status": w.status, "kept": w.kept,
                     "message": w.describe()} for w in getattr(out, "waiting", ())],
        # Where each endpoint's release stands (controller.rollout), and what this run did to it.
        "rollouts": [r.to_dict() for r in getattr(out, "rollouts", ())],
    }


def outcome_json(command: str, stack: str, out: Any) -> str:
    return json.dumps(outcome_dict(command, stack, out), indent=2, sort_keys=True, ensure_ascii=False)


def iso_time(value: Any) -> str:
    """An update's time in ISO 8601 with its offset ("2025-03-01T09:30:12Z"). The engine records
    times in UTC, and the Automation API hands them over without a zone: a time without one is
    UTC. Anything that is no time is returned as it was."""
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
