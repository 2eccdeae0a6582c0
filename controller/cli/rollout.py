"""`amlctl rollout status|promote|abort|retry|advance|simulate`: where each endpoint's release
stands, and steering it. Every command but status and simulate is an apply of the stack that may
change nothing but releases (controller.engine.operations.apply(only_rollouts=True))."""
from __future__ import annotations

import json
import sys

import click

from controller.cli import STACK, _engine_call, _repo_root, cli


def print_reports(reports, err: bool = False) -> None:
    """What apply and preview say about releases: one line per endpoint that has something to say."""
    for r in reports:
        if r.event or r.record.get("release"):
            click.echo(f"rollout {r.endpoint}: {r.event or 'in progress'}: {r.message}", err=err)


@cli.group("rollout")
def rollout_group() -> None:
    """Releases of online endpoints: status, promote, abort, retry, advance (the scheduled job)."""


def _steps(root, stack):
    """(records by traffic step, the working tree's graph with releases where the next apply puts
    them, or None when the manifests do not render)."""
    from controller.engine import rollouts
    from controller.revisions import render_stack
    records = rollouts.records(root, stack)
    side = render_stack(root, stack)
    rolled = rollouts.roll(root, stack, side.graph, applied=records) if side.graph is not None else None
    return records, rolled


def _endpoint_node(records, name: str | None) -> str:
    if name is None:
        return "*"
    found = [n[: -len("/traffic")] for n in records if n[: -len("/traffic")].rsplit("/", 1)[-1] == name
             or n[: -len("/traffic")].endswith("/" + name.replace("/", "/online-endpoint/", 1))]
    if not found:
        known = ", ".join(sorted(n[: -len("/traffic")].rsplit("/", 1)[-1] for n in records)) or "none"
        raise click.UsageError(f"no endpoint {name!r} with a release record in this stack (endpoints: {known})")
    if len(found) > 1:
        raise click.UsageError(f"{name!r} names endpoints in several workspaces: give WORKSPACE/{name}")
    return found[0]


@rollout_group.command("status")
@STACK
@click.option("-o", "--output", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def status_cmd(stack: str, fmt: str) -> None:
    """Where each endpoint's release stands (the stack's state), and what the next apply does."""
    root = _repo_root()
    records, rolled = _engine_call(_steps, root, stack)
    nexts = {r.node: r for r in (rolled.reports if rolled else ())}
    rows = []
    for node in sorted(records):
        a = records[node]
        rec = a.record
        nxt = nexts.get(node)
        rows.append({"endpoint": node[: -len("/traffic")], "traffic": dict(a.traffic), "mirrorTraffic": dict(a.mirror),
                     "default": a.default, "serving": dict(rec.names),
                     "release": rec.release.to_dict() if rec.release else None, "last": rec.last,
                     "next": {"event": nxt.event, "message": nxt.message} if nxt else None})
    if fmt == "json":
        click.echo(json.dumps({"format": "amlctl.dev/rollout-status/v1", "stack": stack, "endpoints": rows},
                              indent=2, sort_keys=True))
        return
    if not rows:
        click.echo(f"stack {stack}: no endpoint with traffic has been applied")
        return
    for row in rows:
        split = ", ".join(f"{k} {v}%" for k, v in sorted(row["traffic"].items())) or "none"
        mirror = ", ".join(f"{k} {v}%" for k, v in sorted(row["mirrorTraffic"].items()))
        click.echo(f"{row['endpoint']}: traffic {split}" + (f"; mirror {mirror}" if mirror else "")
                   + (f"; default {row['default']}" if row["default"] else ""))
        rel = row["release"]
        if rel:
            moving = ", ".join(f"{m['deployment']}: {m['old']} -> {m['new']}" for m in rel["moving"])
            click.echo(f"  release in progress since {rel['started']}: {moving}; step {rel['step'] + 1} "
                       f"since {rel['stepStarted']}")
        else:
            click.echo("  no release in progress")
        if row["last"]:
            last = row["last"]
            click.echo(f"  last release: {last.get('result')} at {last.get('at')}"
                       + (f" ({last['why']})" if last.get("why") else ""))
        if row["next"] and (row["next"]["event"] or rel):
            click.echo(f"  next apply: {row['next']['event']}: {row['next']['message']}")


def _steer(stack: str, endpoint: str | None, decision: str | None, need: str) -> None:
    from controller.cli.progress import describe
    from controller.engine import operations, rollouts
    root = _repo_root()
    records = _engine_call(rollouts.records, root, stack)
    node = _endpoint_node(records, endpoint)
    chosen = {n: a for n, a in records.items() if node == "*" or n == node + "/traffic"}
    if need == "release" and not any(a.record.release for a in chosen.values()):
        click.echo(f"no release in progress{'' if node == '*' else ' on ' + node}: nothing to "
                   f"{decision or 'advance'}", err=decision is not None)
        sys.exit(1 if decision else 0)
    if need == "failed" and not any((a.record.last or {}).get("result") in ("rolled back", "aborted")
                                    for a in chosen.values()):
        click.echo("no rolled-back or aborted release to retry", err=True)
        sys.exit(1)
    from controller.cli.deploy import _progress
    with _progress("text") as progress:
        out = _engine_call(operations.apply, root, stack, report=progress,
                           decisions={node: decision} if decision else None, only_rollouts=True)
    if out.started_engine:
        click.echo(f"Resources: {describe(out.changes)}")
    print_reports(out.rollouts)
    if not any(r.event for r in out.rollouts):
        click.echo(out.message)
    if out.failed_release:
        sys.exit(1)


ENDPOINT = click.argument("endpoint", required=False, metavar="[ENDPOINT]")


@rollout_group.command("promote")
@STACK
@ENDPOINT
def promote_cmd(stack: str, endpoint: str | None) -> None:
    """Send all traffic to the new deployment now, skipping the remaining steps and gates."""
    _steer(stack, endpoint, "promote", "release")


@rollout_group.command("abort")
@STACK
@ENDPOINT
def abort_cmd(stack: str, endpoint: str | None) -> None:
    """Put the traffic back where it was before the release and delete the new deployment."""
    _steer(stack, endpoint, "abort", "release")


@rollout_group.command("retry")
@STACK
@ENDPOINT
def retry_cmd(stack: str, endpoint: str | None) -> None:
    """Start again a release that was rolled back or aborted (the manifests unchanged)."""
    _steer(stack, endpoint, "retry", "failed")


@rollout_group.command("advance")
@STACK
def advance_cmd(stack: str) -> None:
    """Move every release in progress on by one step where it holds (the scheduled CI job).
    Exits 0 at once when none is in progress; refuses when the stack has other changes to apply."""
    _steer(stack, None, None, "release")


@rollout_group.command("simulate")
@STACK
@click.argument("deployment", metavar="ENDPOINT/DEPLOYMENT")
@click.option("--requests", type=click.IntRange(min=0), required=True, help="Requests answered.")
@click.option("--http-5xx", "http_5xx", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--success-rate", type=click.FloatRange(0, 100), help="Percent answered with 2xx (default: all but 5xx).")
@click.option("--p95-ms", type=click.FloatRange(min=0), help="95th-percentile latency in milliseconds.")
def simulate_cmd(stack: str, deployment: str, requests: int, http_5xx: int, success_rate: float | None,
                 p95_ms: float | None) -> None:
    """Local target only: what the simulated Azure Monitor says about a deployment (Azure's name, as
    `rollout status` shows it) from now on."""
    from controller.engine import local_traffic, rollouts
    from controller.engine.state import sim_dir
    from controller.stacks import load_stack
    root = _repo_root()
    loaded, _ = load_stack(root / "stacks" / f"Pulumi.{stack}.yaml", f"stacks/Pulumi.{stack}.yaml")
    if loaded is None or loaded.settings.get("target") != "local":
        raise click.UsageError(f"stack {stack} is not on the local target: Azure Monitor's metrics are Azure's")
    endpoint, _, name = deployment.partition("/")
    records = _engine_call(rollouts.records, root, stack)
    node = _endpoint_node(records, endpoint)
    if not name:
        raise click.UsageError("give ENDPOINT/DEPLOYMENT")
    step = records[node + "/traffic"]
    known = set(step.traffic) | set(step.mirror) | ({m.new for m in step.record.release.moving}
                                                     if step.record.release else set())
    if name not in known:
        raise click.UsageError(f"{name!r} is not a deployment of {endpoint} that takes or is about to take traffic "
                               f"({', '.join(sorted(known)) or 'none'})")
    entry = local_traffic.set_health(sim_dir(root, stack), f"{step.endpoint_id}/deployments/{name}",
                                     requests=requests, http_5xx=http_5xx, success_rate=success_rate,
                                     p95_latency_ms=p95_ms)
    click.echo(f"simulated metrics of {endpoint}/{name}: {json.dumps(entry, sort_keys=True)}")
