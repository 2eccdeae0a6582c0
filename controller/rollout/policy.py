"""An online endpoint's rollout policy (the manifest's `rollout:`, an amlctl extension), as data.

The renderer puts the manifest's policy into the endpoint's traffic step (`rolloutPolicy`), so the
rollout stage needs nothing but the graph. No policy is the default release: blue/green in one
apply, for the changes Azure cannot make in place.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from controller.rollout.health import Gates

_DURATION = re.compile(r"^(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds(text: str | int | None) -> int:
    """`1h30m` -> 5400. The schema checks the form; anything else is 0 (no pause)."""
    if text is None or isinstance(text, int):
        return int(text or 0)
    m = _DURATION.match(str(text).strip())
    if not m:
        return 0
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def duration(total: int) -> str:
    """5400 -> `1h30m`: how plan and status write a pause."""
    if total <= 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


@dataclass(frozen=True)
class Step:
    canary: int = 0  # percent of the replaced deployment's live traffic on the new one
    mirror: int = 0  # percent of the endpoint's traffic copied to the new one
    pause: int = 0  # seconds the step holds at least
    gates: Gates = Gates()

    def describe(self) -> str:
        what = f"canary {self.canary}%" if self.canary else f"mirror {self.mirror}%"
        if self.pause:
            what += f", pause {duration(self.pause)}"
        if self.gates.any:
            what += f", gates: {self.gates.describe()}"
        return what


@dataclass(frozen=True)
class Policy:
    steps: tuple[Step, ...] = ()
    declared: bool = False  # the manifest has a `rollout:`; else every release is blue/green at once

    @classmethod
    def from_input(cls, value: Mapping[str, Any] | None) -> "Policy":
        if not isinstance(value, Mapping):
            return cls()
        steps = []
        for s in value.get("steps") or ():
            # A step's own gates override the policy's, threshold by threshold.
            gates = Gates.from_dict({**(value.get("gates") or {}), **(s.get("gates") or {})})
            steps.append(Step(int(s.get("canary") or 0), int(s.get("mirror") or 0), seconds(s.get("pause")), gates))
        return cls(tuple(steps), True)

    def describe(self) -> str:
        if not self.steps:
            return "all traffic at once"
        return " -> ".join([*(s.describe().split(",")[0] for s in self.steps), "all"])


def to_input(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's `rollout:` as the traffic step carries it: the same fields, sorted."""
    out: dict[str, Any] = {"steps": [{k: s[k] for k in sorted(s)} for s in spec.get("steps") or []]}
    if spec.get("gates") is not None:
        out["gates"] = {k: spec["gates"][k] for k in sorted(spec["gates"])}
    return out
