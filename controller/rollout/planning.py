"""What `plan` says about releases, offline: which changes are released beside the deployment that
serves (and how: blue/green, or the policy's steps), and where each endpoint's release stands when
the stack's state can be read without the engine (a file backend)."""
from __future__ import annotations

import dataclasses
from typing import Mapping

from controller import plan as P
from controller.render.graph import Graph
from controller.rollout.decide import derived
from controller.rollout.overlay import DEPLOYMENTS, NOT_A_RELEASE, TRAFFIC, digests
from controller.rollout.policy import Policy
from controller.rollout.record import FAILED, Applied


def annotate(plan: P.Plan, base: Graph | None, head: Graph, records: Mapping[str, Applied] | None) -> P.Plan:
    before = base.by_name() if base else {}
    after = head.by_name()
    changes = []
    for c in plan.changes:
        if c.type in DEPLOYMENTS and c.action in (P.REPLACE, P.UPDATE) and "/deployments/" in c.name:
            c = _deployment(c, before, after, records)
        changes.append(c)
    plan.changes = changes
    plan.rollouts = _standing(head, records)
    return plan


def _deployment(c: P.Change, before, after, records) -> P.Change:
    ep, d = c.name.split("/deployments/", 1)
    step = after.get(ep + "/traffic")
    old_step = before.get(ep + "/traffic")
    if step is None or old_step is None:
        return c
    applied = (records or {}).get(ep + "/traffic")
    rec = applied.record if applied else None
    serving = rec.serving(d) if rec else d
    if applied is not None:
        takes = applied.takes_traffic(serving)
    else:  # no state to read: the base revision's traffic says who serves
        i = old_step.inputs
        takes = bool((i.get("traffic") or {}).get(d) or (i.get("mirrorTraffic") or {}).get(d)
                     or i.get("defaultDeployment") == d)
    policy = Policy.from_input(step.inputs.get("rolloutPolicy")) if step.inputs.get("kind") != "batch" else Policy()
    relevant = c.action == P.REPLACE or (policy.declared and any(
        not any(p.path == x or p.path.startswith(x + ".") for x in NOT_A_RELEASE) for p in c.properties))
    if not takes or not relevant:
        return c
    new = derived(d, digests(after[c.name])["release"])
    last = (rec.last or {}) if rec else {}
    if last.get("result") in FAILED and (last.get("new") or {}).get(d) == new:
        return dataclasses.replace(c, label=f"held: the release of this content ({new}) was {last['result']} at "
                                            f"{last.get('at')}; {serving} keeps serving (`amlctl rollout retry`)",
                                   release=True)
    how = "blue/green, all traffic at once" if not policy.steps else f"through the rollout's steps: {policy.describe()}"
    label = (f"released beside {serving}: new deployment {new} ({how}); {serving} is deleted once it takes no traffic")
    if rec and rec.release and rec.release.of(d) and rec.release.of(d).new == new:
        label = (f"being released as {new} (step {rec.release.step + 1}, see Rollouts): the next applies move it on; "
                 f"{rec.release.of(d).old} is deleted once it takes no traffic")
    elif rec and rec.release and rec.release.of(d):
        m = rec.release.of(d)
        label = (f"supersedes the release in progress ({m.new}, step {rec.release.step + 1}): new deployment {new} "
                 f"beside {m.old}, from step 1 ({how}); {m.new} is deleted")
    return dataclasses.replace(c, label=label, release=True)


def _standing(head: Graph, records: Mapping[str, Applied] | None) -> list[str]:
    steps = [r for r in head.resources if r.type == TRAFFIC]
    if not steps:
        return []
    if records is None:
        return ["where releases stand is not read: the stack's state is in a remote backend (`amlctl rollout status "
                f"--stack {head.stack}` reads it)"]
    out = []
    for r in steps:
        a = records.get(r.name)
        if a is None:
            continue
        rel = a.record.release
        split = ", ".join(f"{k} {v}%" for k, v in sorted(a.traffic.items()))
        if rel:
            policy = Policy.from_input(r.inputs.get("rolloutPolicy"))
            moving = ", ".join(f"{m.deployment}: {m.old} -> {m.new}" for m in rel.moving)
            out.append(f"{r.subject}: release in progress since {rel.started} ({moving}), step {rel.step + 1} of "
                       f"{max(len(policy.steps), rel.step + 1)} since {rel.step_started}; traffic {split}")
        elif a.record.last and a.record.last.get("result") in FAILED:
            out.append(f"{r.subject}: last release {a.record.last['result']} at {a.record.last.get('at')}; traffic {split}")
    return out
