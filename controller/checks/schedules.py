"""Schedules Azure ML would refuse, or would run otherwise than they read (M013 errors, M014 warnings).

Triggers stand in three places: a Schedule's `trigger`, a Pipeline's amlctl `schedule.trigger` and a
compute instance's `schedules.compute_start_stop[i].trigger`. The schemas hold their shapes (types,
enums, 0-23 hours); this holds what a schema cannot say:

- cron: Azure ML's cron is NCrontab's five fields, `minute hour day-of-month month day-of-week`
  (azure-ai-ml's CronTrigger: "following NCronTab format"; it passes the expression on unchecked).
  amlctl takes, per field, comma lists of `*`, `N`, `N-M`, each with an optional `/STEP`, numbers in
  the field's range (day-of-week 0-6, 0 is Sunday) and, in the month and day-of-week fields, the
  three-letter names croniter reads (jan, mon, ...); croniter (the library plan's fire times come
  from) has the last word. Not taken: seconds or year fields, `@daily` macros, and croniter's
  extensions NCrontab lacks (`L`, `W`, `#`, `?`, `H`). Azure ML's documentation: "DAYS and MONTH are
  not supported. If you pass one of these values, it will be ignored and treated as *" (MicrosoftDocs
  azure-docs, how-to-schedule-data-import.md and how-to-schedule-pipeline-job.md): a day-of-month or
  month field that is not `*` is a warning (M014) saying how often it really fires.
- recurrence: the pattern (`schedule`) applies from frequency day up ("When frequency is day, pattern
  can specify hours and minutes. When frequency is week and month, pattern can specify hours,
  minutes and weekdays": reference-yaml-schedule.md); month_days (the REST API's monthDays) only with
  frequency month; a pattern names both hours and minutes (azure-ai-ml's RecurrencePatternSchema
  requires both).
- time_zone: a Windows name Azure ML takes (controller/plan/firetimes.py: azure-ai-ml's TimeZone enum
  and CLDR's newer Windows zones), in any case. An IANA name is refused with its Windows name.
- start_time and end_time: ISO 8601 (the REST API: "in ISO 8601, but without a UTC offset", in the
  trigger's time zone; an offset is taken too, as Azure ML's documentation shows one), the end after
  the start. A compute instance schedule has no end: azure-ai-ml drops end_time, and month_days, with
  a warning, and so does amlctl (M014).
"""
from __future__ import annotations

import difflib
import re
import zoneinfo
from typing import Any, Iterator

from croniter import croniter

from controller import schemas as S
from controller.diagnostics import error, warning
from controller.manifests.model import Manifest
from controller.plan import firetimes

# (name, lowest, highest, names it takes) per field, in order; croniter's three-letter names.
CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day-of-month", 1, 31, ()),
               ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
               ("day-of-week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_ITEM = re.compile(r"^(?P<lo>\*|\d+|[a-z]+)(?:-(?P<hi>\d+|[a-z]+))?(?:/(?P<step>\d+))?$")
PATTERN_FREQUENCIES = ("day", "week", "month")


def triggers(m: Manifest) -> Iterator[tuple[tuple, dict]]:
    """(spec path, trigger) of each trigger of a manifest."""
    spec = m.spec
    if m.kind == "Schedule" and isinstance(spec.get("trigger"), dict):
        yield ("trigger",), spec["trigger"]
    elif m.kind == "Pipeline" and isinstance(spec.get("schedule"), dict) \
            and isinstance(spec["schedule"].get("trigger"), dict):
        yield ("schedule", "trigger"), spec["schedule"]["trigger"]
    elif m.kind == "Compute" and isinstance(spec.get("schedules"), dict):
        for i, item in enumerate(spec["schedules"].get("compute_start_stop") or []):
            if isinstance(item, dict) and isinstance(item.get("trigger"), dict):
                yield ("schedules", "compute_start_stop", i, "trigger"), item["trigger"]


def check(manifests: list[Manifest], result: Any) -> None:
    for m in manifests:
        for path, trigger in triggers(m):
            for at, code, message in problems(trigger, compute=m.kind == "Compute"):
                src = m.where(path + at)
                make = error if code == "M013" else warning
                result.diagnostics.append(make(src.path, src.line, src.col, code,
                                               f"{S.dotted(path + at)}: {message}", m.subject))


def problems(trigger: dict, compute: bool = False) -> Iterator[tuple[tuple, str, str]]:
    """(path within the trigger, code, message) of each problem of one trigger (its CLI shape)."""
    tz = None
    zone = trigger.get("time_zone")
    if isinstance(zone, str):
        why = time_zone_problem(zone)
        if why:
            yield ("time_zone",), "M013", why
        else:
            tz = firetimes.zone_info(firetimes.windows_zone(zone))
    yield from _times(trigger, tz, compute)
    if trigger.get("type") == "cron" and isinstance(trigger.get("expression"), str):
        for code, message in cron_problems(trigger["expression"]):
            yield ("expression",), code, message
    elif trigger.get("type") == "recurrence":
        yield from _recurrence(trigger, compute)


def time_zone_problem(zone: str) -> str | None:
    if firetimes.windows_zone(zone):
        return None
    examples = ("Windows names such as 'UTC', 'W. Europe Standard Time' or 'Pacific Standard Time' "
                "(azure-ai-ml's TimeZone)")
    windows = firetimes.windows_for_iana(zone)
    iana = zone in zoneinfo.available_timezones()
    if windows is None and iana and zone.upper() in ("GMT", "UCT", "ZULU"):
        windows = "UTC"
    if windows:
        return (f"{zone!r} is an IANA time-zone name; Azure ML takes Windows names: write time_zone: "
                f"{windows!r}")
    if iana:  # one CLDR maps to no Windows zone (EST5EDT, ...)
        return f"{zone!r} is an IANA time-zone name; Azure ML takes {examples}"
    hint = difflib.get_close_matches(zone, list(firetimes.WINDOWS_ZONES), n=1, cutoff=0.6)
    return (f"{zone!r} is not a time zone Azure ML takes{f' (did you mean {hint[0]!r}?)' if hint else ''}: it "
            f"takes {examples}")


def _times(trigger: dict, tz: Any, compute: bool) -> Iterator[tuple[tuple, str, str]]:
    parsed = {}
    for key in ("start_time", "end_time"):
        value = trigger.get(key)
        if not isinstance(value, str):
            continue
        try:
            parsed[key] = firetimes.parse_time(value)
        except ValueError:
            yield (key,), "M013", (f"{value!r} is not an ISO 8601 date and time: write YYYY-MM-DDThh:mm:ss "
                                   "(in the trigger's time zone), e.g. 2026-12-01T02:00:00")
    if compute and "end_time" in trigger:
        yield ("end_time",), "M014", ("a compute instance schedule has no end: Azure ML ignores end_time here "
                                      "(azure-ai-ml drops it with a warning); disable the schedule instead "
                                      "(state: disabled)")
    start, end = parsed.get("start_time"), parsed.get("end_time")
    if start is not None and end is not None:
        utc = firetimes.zone_info("UTC")
        a, b = (t if t.tzinfo else t.replace(tzinfo=tz or utc) for t in (start, end))
        if b <= a:
            yield ("end_time",), "M013", (f"{trigger['end_time']} is not after start_time {trigger['start_time']}: "
                                          "the schedule would never fire")


def cron_problems(expression: str) -> Iterator[tuple[str, str]]:
    """(code, message) of each problem of a cron expression, as Azure ML's five-field cron reads it."""
    fields = expression.split()
    shown = f"{expression!r}"
    if len(fields) != 5:
        yield "M013", (f"{shown} has {len(fields)} field(s); Azure ML's cron has five: minute hour day-of-month "
                       "month day-of-week (no seconds or year field, no @-macro)")
        return
    bad = False
    for text, (name, lo, hi, names) in zip(fields, CRON_FIELDS):
        why = _field_problem(text, name, lo, hi, names)
        if why:
            bad = True
            yield "M013", f"{shown}: the {name} field {text!r} {why}"
    if bad:
        return
    if not croniter.is_valid(expression):
        yield "M013", f"{shown} is not a cron expression croniter can read"
        return
    ignored = [name for text, (name, *_) in zip(fields[2:4], CRON_FIELDS[2:4]) if text != "*"]
    if ignored:
        yield "M014", (f"{shown}: Azure ML ignores the {' and '.join(ignored)} field(s) (treated as *), so it "
                       f"fires as {firetimes.azure_cron(expression)!r} does; for days of the month use a recurrence "
                       "(frequency: month, schedule: {month_days: [...], hours: ..., minutes: ...})")


def _field_problem(text: str, name: str, lo: int, hi: int, names: tuple[str, ...]) -> str | None:
    extension = ("is not one Azure ML reads: comma lists of *, N or N-M, each with an optional /STEP "
                 "(no L, W, #, ? or H)")
    for item in text.lower().split(","):
        match = _ITEM.match(item)
        if not match:
            return extension
        values = []
        for part in (match["lo"], match["hi"]):
            if part is None or part == "*":
                continue
            if part.isdigit():
                values.append(int(part))
            elif part in names:
                values.append(names.index(part) + lo)
            elif part in ("l", "w", "lw", "h"):
                return extension
            elif names:
                return f"names {part!r}: write a number or a three-letter name ({', '.join(names)})"
            else:
                return f"names {part!r}: the {name} field takes numbers {lo}-{hi}"
        for v in values:
            if not lo <= v <= hi:
                hint = " (Sunday is 0)" if name == "day-of-week" and v == 7 else ""
                return f"holds {v}, outside {lo}-{hi}{hint}"
        if match["hi"] is not None and match["lo"] != "*" and len(values) == 2 and values[0] > values[1]:
            return f"has the range {item!r}, which runs backwards: write LOW-HIGH"
        if match["step"] is not None and int(match["step"]) == 0:
            return "has a step of 0"
    return None


def _recurrence(trigger: dict, compute: bool) -> Iterator[tuple[tuple, str, str]]:
    frequency = trigger.get("frequency")
    pattern = trigger.get("schedule")
    if not isinstance(frequency, str) or not isinstance(pattern, dict):
        return
    if frequency not in PATTERN_FREQUENCIES:
        yield ("schedule",), "M013", (f"a recurrence pattern applies with frequency day, week or month; with "
                                      f"frequency {frequency!r} it fires every interval {frequency}(s) from "
                                      "start_time: remove schedule, or use frequency: day with schedule.hours "
                                      "and minutes")
        return
    missing = [k for k in ("hours", "minutes") if k not in pattern]
    if missing:
        yield ("schedule",), "M013", (f"a recurrence pattern names both hours and minutes (azure-ai-ml "
                                      f"requires them): add {' and '.join(missing)}")
    if "week_days" in pattern and frequency == "day":
        yield ("schedule", "week_days"), "M013", ("week_days apply with frequency week or month, not day: "
                                                  "use frequency: week")
    if "month_days" in pattern:
        if compute:
            yield ("schedule", "month_days"), "M014", ("a compute instance schedule has no month days: Azure ML "
                                                       "ignores month_days here (azure-ai-ml drops it with a "
                                                       "warning)")
        elif frequency != "month":
            yield ("schedule", "month_days"), "M013", (f"month_days apply with frequency month, not "
                                                       f"{frequency}: use frequency: month")
