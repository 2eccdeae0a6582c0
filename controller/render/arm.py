"""From a manifest's az ml body to the ARM request body Azure ML takes, driven by the schemas.

Which field goes where is written in the schemas, next to the field, never in this code:

  "x-amlctl-arm": "properties.properties.vmSize"        where the value goes, relative to where
                                                          its parent object went (the body root for
                                                          top-level fields)
  "x-amlctl-arm": {"to": "...", "values": {"low_priority": "LowPriority"}, "convert": "duration-s"}
  "x-amlctl-arm": false                                   not copied: the kind's renderer uses it
                                                          (name, version, endpoint_name, ...)
  "x-amlctl-arm-set": {"properties.computeType": "AmlCompute"}
                                                          constants, on any (sub)schema that applies

A field inside a mapped object that has no annotation of its own goes to its camelCase name.
A top-level field with no annotation at all is reported (R001): nothing is dropped silently.
Converters turn values into the shape ARM wants (ISO durations, ARM ids, identities); they are
about value shapes only and name no field.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from controller import schemas as S

MISSING = object()


@dataclass
class Mapped:
    body: dict[str, Any] = field(default_factory=dict)
    unmapped: list[tuple] = field(default_factory=list)  # top-level spec paths no annotation maps
    refs: dict[tuple, str] = field(default_factory=dict)  # spec path -> referenced kind
    paths: dict[tuple, str] = field(default_factory=dict)  # spec path -> local path kind (file/dir/any)
    secrets: set[tuple] = field(default_factory=set)
    origins: dict[str, tuple] = field(default_factory=dict)  # dotted body path -> the spec path it came from


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def put(body: dict[str, Any], target: list[str], value: Any) -> None:
    node = body
    for part in target[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = node[part] = {}
        node = nxt
    if isinstance(value, dict) and isinstance(node.get(target[-1]), dict):
        node[target[-1]].update(value)  # two fields may fill one ARM object
    else:
        node[target[-1]] = value


def get(body: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = body
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


# A converter takes (value, Convert) and returns the ARM value.
@dataclass(frozen=True)
class Convert:
    path: tuple  # where the value sits in the spec
    ref: str | None  # x-amlctl-ref at that path, if any
    resolve: Callable[[str, tuple, Any], Any]  # the kind renderer's hook for values only it can resolve


def _iso_duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds.is_integer():
        seconds = int(seconds)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    out = "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return out + ("T" + time if time else ("" if days else "T0S"))


def _seconds(value: Any, c: Convert) -> Any:
    return _iso_duration(value) if isinstance(value, (int, float)) else value


def _milliseconds(value: Any, c: Convert) -> Any:
    return _iso_duration(value / 1000) if isinstance(value, (int, float)) else value


def _minutes(value: Any, c: Convert) -> Any:
    # Minutes stay minutes (PT60M, not PT1H): the spelling azure-ai-ml sends and Azure echoes back.
    return f"PT{int(value) if float(value).is_integer() else value}M" if isinstance(value, (int, float)) else value


def _verbatim(value: Any, c: Convert) -> Any:
    return copy.deepcopy(value)  # the body must never share objects with the manifest


def _string(value: Any, c: Convert) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _string_values(value: Any, c: Convert) -> Any:
    """A map ARM types as string to string (environment variables): YAML's `WORKER_COUNT: 2` is an
    int, which the provider's schema does not take (and azure-ai-ml would send as JSON 2)."""
    if not isinstance(value, Mapping):
        return value
    return {k: v if isinstance(v, (str, dict)) else _string(v, c) for k, v in value.items()}


_PASCAL = re.compile(r"(?:^|_)([a-z0-9])")


def _pascal(value: Any, c: Convert) -> Any:
    """system_assigned -> SystemAssigned: ARM's spelling of the CLI's snake_case enums."""
    return _PASCAL.sub(lambda m: m.group(1).upper(), value) if isinstance(value, str) else value


def _hook(name: str) -> Callable[[Any, Convert], Any]:
    def convert(value: Any, c: Convert) -> Any:
        return c.resolve(name, c.path, value)
    return convert


CONVERTERS: dict[str, Callable[[Any, Convert], Any]] = {
    "duration-s": _seconds,
    "duration-ms": _milliseconds,
    "duration-min": _minutes,
    "verbatim": _verbatim,
    "string": _string,
    "string-values": _string_values,
    "pascal": _pascal,
    # Values only the kind renderer can resolve: references become ARM ids, local paths become
    # uploaded assets, files become their text, identities take ARM's shape.
    "arm-id": _hook("arm-id"),
    "asset-uri": _hook("asset-uri"),
    "code-id": _hook("code-id"),
    "file-text": _hook("file-text"),
    "identity": _hook("identity"),
    "secret": _hook("secret"),
}


def _parse(annotation: Any, key: Any) -> tuple[list[str] | None, dict | None, str | None]:
    if annotation is False:
        return None, None, None
    if annotation is MISSING:
        return [camel(key)] if isinstance(key, str) else [], None, None
    if isinstance(annotation, str):
        return annotation.split(".") if annotation else [], None, None
    to = annotation.get("to", camel(key) if isinstance(key, str) else "")
    return (to.split(".") if to else []), annotation.get("values"), annotation.get("convert")


def to_arm(schemas: S.SchemaSet, file: str, spec: Mapping[str, Any],
           resolve: Callable[[str, tuple, Any], Any]) -> Mapped:
    """Map a schema-valid spec to its ARM body."""
    found = S.annotations(schemas, file, spec)
    arm = {a.path: a.value for a in found if a.key == "arm"}
    out = Mapped()
    for a in found:
        if a.key == "ref":
            out.refs[a.path] = a.value
        elif a.key == "path":
            out.paths[a.path] = a.value
        elif a.key == "secret":
            out.secrets.add(a.path)
    # Constants first, so that fields override them; shallower constants before deeper ones.
    for a in sorted((a for a in found if a.key == "arm-set"), key=lambda a: (len(a.path), repr(a.value))):
        base = _target_of(a.path, arm)
        if base is None:
            continue
        for dotted, value in sorted(a.value.items()):
            # A copy: later fields fill these objects in place, and the schema must stay untouched.
            put(out.body, base + dotted.split("."), copy.deepcopy(value))

    def place(value: Any, path: tuple, into: dict[str, Any], base: list[str], inherited: bool) -> None:
        annotation = arm.get(path, MISSING)
        if annotation is MISSING and not inherited:
            out.unmapped.append(path)
            return
        to, values, convert = _parse(annotation, path[-1])
        if to is None:
            return
        target = base + to
        if into is out.body and target:  # inside list items the list's own origin stands for them
            out.origins[".".join(target)] = path
        if values is not None and isinstance(value, (str, bool, int)) and str(value) in values:
            value = values[str(value)]
        if convert is None and path in out.secrets:
            convert = "secret"
        if convert is not None:
            converted = CONVERTERS[convert](value, Convert(path, out.refs.get(path), resolve))
            if converted is not MISSING:
                _put_at(into, target, converted)
            return
        if isinstance(value, dict):
            if not value:
                _put_at(into, target, {})
            for k in sorted(value):
                place(value[k], path + (k,), into, target, True)
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            items = []
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    body: dict[str, Any] = {}
                    for k in sorted(item):
                        place(item[k], path + (i, k), body, [], True)
                    items.append(body)
                else:
                    items.append(item)
            _put_at(into, target, items)
        else:
            _put_at(into, target, value)

    for key in sorted(spec):
        place(spec[key], (key,), out.body, [], False)
    return out


def _put_at(into: dict[str, Any], target: list[str], value: Any) -> None:
    if not target:
        if isinstance(value, dict):
            into.update(value)
        return
    put(into, target, value)


def _target_of(path: tuple, arm: Mapping[tuple, Any]) -> list[str] | None:
    """Where the object at `path` went (for constants declared on a nested subschema)."""
    target: list[str] = []
    for i in range(1, len(path) + 1):
        if isinstance(path[i - 1], int):
            return None  # constants inside list items are not supported; none are needed
        to, _, _ = _parse(arm.get(path[:i], MISSING), path[i - 1])
        if to is None:
            return None
        target += to
    return target


def _trigger(trigger: Mapping[str, Any]) -> dict[str, Any]:
    """A CLI trigger ({type: cron|recurrence, ...}) in ARM's shape."""
    out: dict[str, Any] = {}
    if trigger.get("type") == "cron":
        out = {"triggerType": "Cron", "expression": trigger.get("expression")}
    else:
        out = {"triggerType": "Recurrence", "frequency": _pascal(trigger.get("frequency"), None),
               "interval": trigger.get("interval")}
        if "schedule" in trigger:
            s = trigger["schedule"]
            # The CLI takes one value or a list of them; ARM (and the provider) only lists.
            out["schedule"] = {"hours": _listed(s.get("hours", [])), "minutes": _listed(s.get("minutes", [])),
                               **({"weekDays": [_pascal(w, None) for w in _listed(s["week_days"])]}
                                  if "week_days" in s else {}),
                               **({"monthDays": _listed(s["month_days"])} if "month_days" in s else {})}
    for key, arm_key in (("time_zone", "timeZone"), ("start_time", "startTime"), ("end_time", "endTime")):
        if key in trigger:
            out[arm_key] = str(trigger[key])
    return out


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _compute_schedules(value: Any, c: Convert) -> Any:
    """Compute instance start/stop schedules: ARM nests the trigger under `cron` or `recurrence`.
    The trigger type is the schedule's own property: Cron and Recurrence (unlike a Schedule
    resource's CronTrigger) have none. The power action is ARM's Start/Stop, not the CLI's start."""
    out = []
    for item in value:
        t = _trigger(item.get("trigger", {}))
        trigger_type = t.pop("triggerType")
        nested = "cron" if trigger_type == "Cron" else "recurrence"
        entry = {"action": _pascal(item.get("action"), c),
                 "status": {"enabled": "Enabled", "disabled": "Disabled"}.get(item.get("state", "enabled"), "Enabled"),
                 "triggerType": trigger_type, nested: t}
        out.append(entry)
    return out


def _schedule_trigger(value: Any, c: Convert) -> Any:
    return _trigger(value) if isinstance(value, Mapping) else value


CONVERTERS["compute-schedules"] = _compute_schedules
CONVERTERS["trigger"] = _schedule_trigger
