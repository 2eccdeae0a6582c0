"""The state of an endpoint's releases, kept in the stack's state: the endpoint's traffic step
carries it as its `rolloutState` input, so the engine writes it into the checkpoint together with
the traffic it set, in the same step. An update interrupted before that step keeps the previous
record, and the previous traffic: the next run starts from what Azure was last told.

    Record.names     manifest deployment name -> the deployment that serves it (<name>-<digest>
                     once a release replaced the first one)
    Record.digests   what each deployment's manifest rendered to when it was last released: a change
                     is seen by comparing digests, with no need for the engine's inputs
    Record.release   the release in progress, if any
    Record.last      how the last release ended (completed, rolled back, aborted, promoted)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

STATE_KEY = "rolloutState"
POLICY_KEY = "rolloutPolicy"


@dataclass(frozen=True)
class Moving:
    deployment: str  # the manifest's name
    old: str  # the deployment serving it before the release (Azure's name)
    new: str  # the one the release creates: <name>-<digest>
    digests: Mapping[str, str]  # of the new content: recorded as the deployment's once it is complete


@dataclass(frozen=True)
class Release:
    moving: tuple[Moving, ...]
    step: int  # index of the step in effect
    started: str  # UTC ISO times
    step_started: str
    previous: Mapping[str, Any]  # the traffic before the release (Azure's names): where a rollback goes

    def to_dict(self) -> dict[str, Any]:
        return {"moving": [{"deployment": m.deployment, "old": m.old, "new": m.new, "digests": dict(m.digests)}
                           for m in self.moving],
                "step": self.step, "started": self.started, "stepStarted": self.step_started,
                "previous": dict(self.previous)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Release":
        return cls(tuple(Moving(m["deployment"], m["old"], m["new"], dict(m.get("digests") or {}))
                         for m in d.get("moving") or ()),
                   int(d.get("step", 0)), str(d.get("started", "")), str(d.get("stepStarted", "")),
                   dict(d.get("previous") or {}))

    def of(self, deployment: str) -> Moving | None:
        return next((m for m in self.moving if m.deployment == deployment), None)


COMPLETED, ROLLED_BACK, ABORTED, PROMOTED = "completed", "rolled back", "aborted", "promoted"
FAILED = (ROLLED_BACK, ABORTED)


@dataclass(frozen=True)
class Record:
    names: Mapping[str, str] = field(default_factory=dict)
    digests: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    release: Release | None = None
    last: Mapping[str, Any] | None = None  # {result, at, why, new: {deployment: new name}, step}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"names": {k: self.names[k] for k in sorted(self.names)},
                               "digests": {k: dict(sorted(self.digests[k].items())) for k in sorted(self.digests)}}
        if self.release is not None:
            out["release"] = self.release.to_dict()
        if self.last is not None:
            out["last"] = dict(self.last)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "Record":
        if not isinstance(d, Mapping):
            return cls()
        release = d.get("release")
        return cls(dict(d.get("names") or {}), {k: dict(v) for k, v in (d.get("digests") or {}).items()},
                   Release.from_dict(release) if isinstance(release, Mapping) else None,
                   dict(d["last"]) if isinstance(d.get("last"), Mapping) else None)

    def serving(self, deployment: str) -> str:
        return self.names.get(deployment, deployment)

    def with_(self, **changes: Any) -> "Record":
        return replace(self, **changes)


@dataclass(frozen=True)
class Applied:
    """What the stack's state says an endpoint's traffic step last set (Azure's names), and its record."""
    record: Record = Record()
    traffic: Mapping[str, int] = field(default_factory=dict)
    mirror: Mapping[str, int] = field(default_factory=dict)
    default: str | None = None  # a batch endpoint's default deployment
    endpoint_id: str = ""  # the endpoint's ARM id

    def takes_traffic(self, name: str) -> bool:
        return bool(self.traffic.get(name)) or bool(self.mirror.get(name)) or self.default == name

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> "Applied":
        def split(v: Any) -> dict[str, int]:
            return {str(k): int(x) for k, x in v.items()} if isinstance(v, Mapping) else {}
        return cls(Record.from_dict(outputs.get(STATE_KEY)), split(outputs.get("traffic")),
                   split(outputs.get("mirrorTraffic")), outputs.get("defaultDeployment") or None,
                   str(outputs.get("endpointId") or "").rstrip("/"))
