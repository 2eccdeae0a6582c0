"""What one endpoint's next apply does to its releases: a pure function of the manifests' render,
what the stack's state recorded, the clock and the new deployments' health.

    decide(Endpoint, Applied, now, health, decision, advance) -> Decision

A release starts when a deployment that takes traffic (live, mirrored, or a batch endpoint's
default) changes in a way that needs a new deployment: what Azure cannot change in place (its
instance type...), or, under a declared policy, anything but scale, tags and description. The new
deployment is named <name>-<7 hex digits of its content>, so plan can name it before it exists and a
resumed run picks the same one. It goes through the policy's steps, one per apply once the step
holds (its pause has passed, its gates pass); the last step moves all of the traffic and retires
the old deployment, which the engine deletes after the traffic step (deletes come last). A failed
gate puts the traffic back and retires the new deployment; the release is remembered as failed, so
the same content is not released again until the manifest changes or `amlctl rollout retry`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from controller.rollout.health import FAIL, PASS, WAIT, Health, judge
from controller.rollout.policy import Policy, Step, duration
from controller.rollout.record import (ABORTED, COMPLETED, FAILED, PROMOTED, ROLLED_BACK, Applied, Moving, Record,
                                       Release)

PROMOTE, ABORT, RETRY = "promote", "abort", "retry"
# what a run reports about an endpoint
STARTED, ADVANCED, WAITING, DONE, BACK, HELD, RESTARTED = ("started", "advanced", "waiting", "completed",
                                                          "rolled back", "held", "restarted")


@dataclass(frozen=True)
class Endpoint:
    """An endpoint's part of the render, in the manifests' names."""
    node: str  # its traffic step's graph name
    subject: str  # OnlineEndpoint/credit-endpoint
    kind: str  # online | batch
    policy: Policy
    deployments: Mapping[str, Mapping[str, str]]  # manifest name -> digests {"replace", "release"}
    traffic: Mapping[str, int] = field(default_factory=dict)
    mirror: Mapping[str, int] = field(default_factory=dict)
    default: str | None = None


@dataclass(frozen=True)
class Decision:
    nodes: Mapping[str, tuple[tuple[str, bool], ...]]  # manifest name -> ((Azure name, frozen), ...)
    traffic: Mapping[str, int]
    mirror: Mapping[str, int]
    default: str | None
    record: Record
    retired: tuple[str, ...] = ()  # Azure names of deployments the release leaves behind
    event: str = ""
    message: str = ""
    failed: bool = False


def derived(name: str, digest: str) -> str:
    """The new deployment's name: within Azure's 32 characters, ending with a letter or digit."""
    return f"{name[:24].rstrip('-')}-{digest[:7]}"


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return None


HealthOf = Callable[[str, dt.datetime], Health]  # (new deployment's Azure name, window start) -> Health


def decide(ep: Endpoint, applied: Applied, now: dt.datetime, health: HealthOf | None = None,
           decision: str | None = None, advance: bool = True) -> Decision:
    rec = applied.record
    steps = ep.policy.steps if ep.kind == "online" else ()
    if decision == RETRY:
        rec = rec.with_(last=None)
    state = _State(ep, rec, steps, now, applied)
    release = rec.release
    if release is not None:
        release = state.prune(release)
    if advance:
        if release is not None:
            release = state.supersede(release)
        new = [d for d in sorted(ep.deployments) if state.starts(d, applied, release)]
        if new:
            release = state.begin(new, release, applied)
        if release is not None and decision in (ABORT, PROMOTE) and not state.event:
            return state.finish(release, ABORTED if decision == ABORT else PROMOTED, "by `amlctl rollout "
                                f"{decision}`")
        if release is not None and not state.event:
            release = state.evaluate(release, health)
            if isinstance(release, Decision):
                return release
        if release is not None and state.immediate(release):
            return state.finish(release, COMPLETED, "")
    elif release is not None:
        state.event, state.message = WAITING, state.standing(release)
    held = [d for d in sorted(ep.deployments) if state.held(d, release)]
    if held and not state.event:
        last = rec.last or {}
        state.event = HELD
        state.message = (f"{', '.join(held)} changed, but the release of that content "
                         f"({', '.join(last.get('new', {}).get(d, '?') for d in held)}) was {last.get('result')} at "
                         f"{last.get('at')}: {', '.join(rec.serving(d) for d in held)} keeps serving as it was. "
                         "Change the manifest (a new release), or run `amlctl rollout retry`")
    return state.output(release)


class _State:
    """The working of one decision (kept out of the frozen results)."""

    def __init__(self, ep: Endpoint, rec: Record, steps: tuple[Step, ...], now: dt.datetime,
                 applied: Applied) -> None:
        self.ep, self.rec, self.steps, self.now, self.applied = ep, rec, steps, now, applied
        self.retired: list[str] = []
        self.event = self.message = ""
        self.failed = False

    # -- what changed -------------------------------------------------------------------------------
    def changed(self, d: str) -> bool:
        was = self.rec.digests.get(d)
        if not was:
            return False  # never recorded (a new deployment, or a state from before rollouts): nothing to compare
        now = self.ep.deployments[d]
        return was.get("replace") != now["replace"] or (self.ep.policy.declared and was.get("release") != now["release"])

    def new_name(self, d: str) -> str:
        return derived(d, self.ep.deployments[d]["release"])

    def failed_before(self, d: str) -> bool:
        last = self.rec.last or {}
        return last.get("result") in FAILED and (last.get("new") or {}).get(d) == self.new_name(d)

    def starts(self, d: str, applied: Applied, release: Release | None) -> bool:
        if release is not None and release.of(d) is not None:
            return False
        return (self.changed(d) and applied.takes_traffic(self.rec.serving(d)) and not self.failed_before(d))

    def held(self, d: str, release: Release | None) -> bool:
        """A change whose release failed: what served before keeps serving, unchanged."""
        return (self.changed(d) and (release is None or release.of(d) is None) and self.failed_before(d)
                and self.applied.takes_traffic(self.rec.serving(d)))

    # -- a release's life ------------------------------------------------------------------------------
    def prune(self, release: Release) -> Release | None:
        """A deployment gone from the manifests leaves its release: its new deployment is retired."""
        kept = []
        for m in release.moving:
            if m.deployment in self.ep.deployments:
                kept.append(m)
            else:
                self.retired.append(m.new)
        return replace(release, moving=tuple(kept)) if kept else None

    def supersede(self, release: Release) -> Release:
        """A deployment changed again during its release: the newer content starts over from step 1,
        beside the same old deployment; the superseded new one is retired."""
        moving, again = [], []
        for m in release.moving:
            now = self.ep.deployments[m.deployment]
            if dict(m.digests) != dict(now):
                self.retired.append(m.new)
                again.append(m.deployment)
                m = Moving(m.deployment, m.old, self.new_name(m.deployment), dict(now))
            moving.append(m)
        if not again:
            return release
        self.event, self.message = RESTARTED, (f"{', '.join(again)} changed during the release: the new content "
                                               f"starts over at step 1{self._step_text(0)}")
        return Release(tuple(moving), 0, release.started, iso(self.now), release.previous)

    def begin(self, new: list[str], release: Release | None, applied: Applied) -> Release:
        moving = [Moving(d, self.rec.serving(d), self.new_name(d), dict(self.ep.deployments[d])) for d in new]
        previous = {"traffic": dict(applied.traffic), "mirrorTraffic": dict(applied.mirror)}
        if applied.default:
            previous["defaultDeployment"] = applied.default
        if release is not None:  # joins the release in progress, which starts over with it
            moving = [*release.moving, *moving]
            previous = release.previous
        started = release.started if release is not None else iso(self.now)
        names = ", ".join(f"{m.new} for {m.deployment} (serving: {m.old})" for m in moving[-len(new):])
        self.event = STARTED if release is None else RESTARTED
        self.message = f"new deployment {names}{self._step_text(0)}"
        return Release(tuple(sorted(moving, key=lambda m: m.deployment)), 0, started, iso(self.now), previous)

    def immediate(self, release: Release) -> bool:
        """Nothing to step through: no steps (blue/green), a step index past the policy's (it lost
        steps), or no live traffic on what moves (nothing to canary, nothing to mirror a share of)."""
        if release.step >= len(self.steps):
            return True
        return all(not self.ep.traffic.get(m.deployment) for m in release.moving)

    def evaluate(self, release: Release, health: HealthOf | None) -> Release | Decision:
        if self.immediate(release):
            return release
        step = self.steps[release.step]
        since = _parse(release.step_started, self.now)
        waits = []
        if step.gates.any:
            for m in release.moving:
                try:
                    seen = health(m.new, since) if health is not None else None
                except Exception as e:  # unknown health neither advances nor rolls back
                    waits.append(f"{m.new}: cannot read its health ({e})")
                    continue
                if seen is None:
                    waits.append(f"{m.new}: no health source")
                    continue
                verdict = judge(step.gates, seen)
                if verdict.result == FAIL:
                    return self.finish(release, ROLLED_BACK, f"{m.new} failed its gate at step {release.step + 1} "
                                                             f"({step.describe()}): {verdict.why}")
                if verdict.result == WAIT:
                    waits.append(f"{m.new}: {verdict.why}")
                assert verdict.result in (PASS, WAIT)
        left = step.pause - int((self.now - since).total_seconds())
        if left > 0:
            waits.insert(0, f"pause until {iso(since + dt.timedelta(seconds=step.pause))} ({duration(left)} left)")
        if waits:
            self.event = WAITING
            self.message = f"step {release.step + 1} of {len(self.steps)} ({step.describe()}) holds: " + "; ".join(waits)
            return release
        nxt = release.step + 1
        if nxt >= len(self.steps):
            return self.finish(release, COMPLETED, f"step {release.step + 1} held")
        self.event = ADVANCED
        self.message = f"step {release.step + 1} held; now{self._step_text(nxt)}"
        return Release(release.moving, nxt, release.started, iso(self.now), release.previous)

    def finish(self, release: Release, result: str, why: str) -> Decision:
        last = {"result": result, "at": iso(self.now), "step": release.step + 1, "why": why,
                "new": {m.deployment: m.new for m in release.moving},
                "old": {m.deployment: m.old for m in release.moving}}
        if result in FAILED:
            self.retired += [m.new for m in release.moving]
            rec = self.rec.with_(release=None, last=last)
            self.event, self.failed = (BACK if result == ROLLED_BACK else ABORTED), result == ROLLED_BACK
            olds = ", ".join(m.old for m in release.moving)
            self.message = (f"release {result.upper() if result == ROLLED_BACK else result}: {why}; the traffic goes "
                            f"back to {olds}, and {', '.join(m.new for m in release.moving)} is deleted")
            return self.output(None, rec, rollback=release)
        names = dict(self.rec.names)
        digests = {k: dict(v) for k, v in self.rec.digests.items()}
        for m in release.moving:
            names[m.deployment] = m.new
            digests[m.deployment] = dict(m.digests)
            self.retired.append(m.old)
        rec = self.rec.with_(release=None, last=last, names=names, digests=digests)
        self.event = DONE
        moved = ", ".join(f"{m.new} serves {m.deployment} ({m.old} is deleted once it takes no traffic)"
                          for m in release.moving)
        if result == PROMOTED:
            how = f"promoted at step {release.step + 1} of {len(self.steps)} {why}"
        elif not self.steps:
            how = "blue/green: all traffic at once"
        else:
            how = f"all {len(self.steps)} steps held" if release.step + 1 >= len(self.steps) else why
        self.message = f"release complete, {how}: {moved}"
        return self.output(None, rec, completed=release)

    # -- what the graph gets -----------------------------------------------------------------------------
    def output(self, release: Release | None, rec: Record | None = None, *, rollback: Release | None = None,
               completed: Release | None = None) -> Decision:
        rec = rec or self.rec
        nodes: dict[str, tuple[tuple[str, bool], ...]] = {}
        for d in sorted(self.ep.deployments):
            m = release.of(d) if release else None
            if m is not None:
                nodes[d] = ((m.old, True), (m.new, False))
            elif completed is not None and completed.of(d) is not None:
                nodes[d] = ((completed.of(d).new, False),)
            elif rollback is not None and rollback.of(d) is not None:
                nodes[d] = ((rollback.of(d).old, True),)
            else:
                nodes[d] = ((rec.serving(d), self.held(d, release)),)
        step = self.steps[release.step] if release is not None and release.step < len(self.steps) else None
        traffic, mirror = self._split(rec, release, step)
        default = self.ep.default and nodes.get(self.ep.default, ((rec.serving(self.ep.default), False),))[-1][0]
        if rollback is not None and _valid(rollback.previous, nodes):
            traffic = dict(rollback.previous.get("traffic") or {})
            mirror = dict(rollback.previous.get("mirrorTraffic") or {})
        # Digests: what each deployment now serves. One that moves or is held keeps its old digest,
        # so the difference stays visible to the next run.
        digests = {k: dict(v) for k, v in rec.digests.items() if k in self.ep.deployments}
        for d in self.ep.deployments:
            if (release is None or release.of(d) is None) and not self.held(d, release) and \
                    (rollback is None or rollback.of(d) is None):
                digests[d] = dict(self.ep.deployments[d])
        names = {k: v for k, v in rec.names.items() if k in self.ep.deployments and v != k}
        record = rec.with_(release=release, names=names, digests=digests)
        return Decision(nodes, traffic, mirror, default or None, record, tuple(sorted(set(self.retired))),
                        self.event, self.message, self.failed)

    def _split(self, rec: Record, release: Release | None, step: Step | None) -> tuple[dict, dict]:
        traffic: dict[str, int] = {}
        mirror: dict[str, int] = {}
        for d, share in sorted(self.ep.traffic.items()):
            m = release.of(d) if release else None
            if m is None:
                traffic[rec.serving(d)] = int(share)
            elif step is None:
                traffic[m.new] = int(share)
            elif step.canary:
                c = min(int(share), max(1, round(share * step.canary / 100))) if share else 0
                traffic[m.old], traffic[m.new] = int(share) - c, c
            else:
                traffic[m.old], traffic[m.new] = int(share), 0
                if share:
                    mirror[m.new] = step.mirror
        for d, share in sorted(self.ep.mirror.items()):
            m = release.of(d) if release else None
            mirror[(m.old if step is not None else m.new) if m else rec.serving(d)] = int(share)
        return traffic, mirror

    def _step_text(self, i: int) -> str:
        if not self.steps:
            return ": blue/green, all traffic at once"
        return f": step {i + 1} of {len(self.steps)} ({self.steps[i].describe()})"

    def standing(self, release: Release) -> str:
        if release.step >= len(self.steps):
            return "release in progress"
        return (f"release in progress since {release.started}{self._step_text(release.step)}, "
                f"step since {release.step_started}")


def _parse(text: str, default: dt.datetime) -> dt.datetime:
    return parse(text) or default


def _valid(previous: Mapping[str, Any], nodes: Mapping[str, tuple[tuple[str, bool], ...]]) -> bool:
    """The traffic before the release can be set again: every deployment it names is still there."""
    there = {name for entries in nodes.values() for name, _ in entries}
    named = set(previous.get("traffic") or {}) | set(previous.get("mirrorTraffic") or {})
    return bool(previous.get("traffic")) and named <= there
