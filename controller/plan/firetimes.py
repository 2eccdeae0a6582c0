"""When an Azure ML schedule fires: the time zones Azure ML takes and the next fire times of a
trigger, for `plan` (and the names, for validate's checks, controller/checks/schedules.py).

Azure ML takes Windows time-zone names ("Pacific Standard Time", "UTC"); Python's zoneinfo knows
IANA names only. WINDOWS_ZONES below maps one to the other: CLDR's windowsZones.xml, the mapping
Unicode keeps for exactly this, as tzlocal ships it (tzlocal.windows_tz, generated from CLDR). It
covers azure-ai-ml's TimeZone enum (azure.ai.ml.constants, 131 names: Azure ML's documented list)
and the current Windows zones the enum lacks (Omsk, Volgograd, Yukon, ...).

Fire times are counted the way Azure ML says it counts them: a cron expression in its time zone
(its day-of-month and month fields are ignored, treated as `*`: Azure ML's documentation, which
validate warns about, M014), a recurrence every `interval` minutes, hours, days, weeks or months
from its start, at the pattern's hours, minutes, week days and month days; start_time and end_time
are wall-clock times in the trigger's time zone unless they carry an offset.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import click
from croniter import croniter
from dateutil import rrule
from dateutil.parser import isoparse
from dateutil.relativedelta import relativedelta
from tzlocal.windows_tz import tz_win, win_tz

# The reference time of a plan's fire times (ISO 8601; a time without an offset is UTC). Unset,
# plan counts from the clock and says so: fire times are "next" only relative to a moment.
ENV = "AMLCTL_PLAN_NOW"
COUNT = 3
WEEK_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FREQUENCIES = {"minute": rrule.MINUTELY, "hour": rrule.HOURLY, "day": rrule.DAILY, "week": rrule.WEEKLY,
               "month": rrule.MONTHLY}


@dataclass(frozen=True)
class FireTimes:
    """The next fire times of one schedule (a compute instance has one per start or stop)."""

    action: str  # "" for a Schedule; a compute instance schedule's "start" or "stop"
    time_zone: str  # the Windows name (UTC when the trigger names none)
    times: tuple[str, ...]  # ISO 8601, with the zone's offset at that moment
    note: str = ""  # why there are fewer than COUNT: disabled, ended, ...


# -- time zones ------------------------------------------------------------------------------------
def windows_zone(name: str) -> str | None:
    """The Windows name as Azure ML spells it, for a name in any case (azure-ai-ml's TimeZone enum is
    case-insensitive); None when it is not one."""
    return _BY_LOWER.get(name.lower())


def zone_info(windows: str) -> ZoneInfo:
    return ZoneInfo(WINDOWS_ZONES[windows])


def windows_for_iana(name: str) -> str | None:
    """The Windows name CLDR gives an IANA zone ("Europe/Paris" -> "Romance Standard Time")."""
    return _FROM_IANA.get(name.lower())


# -- times -----------------------------------------------------------------------------------------
def parse_time(text: str) -> datetime:
    """An ISO 8601 date and time (dateutil's strict ISO parser); ValueError if it is not one."""
    return isoparse(text)


def reference(now: datetime | None = None) -> tuple[datetime, str]:
    """(the moment fire times are counted from, what it is): `now` when given, else $AMLCTL_PLAN_NOW,
    else the clock to the minute. An AMLCTL_PLAN_NOW that is no ISO 8601 time is a usage error."""
    if now is not None:
        return _aware(now), "given"
    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            return _aware(parse_time(env)), ENV
        except ValueError:
            raise click.UsageError(f"{ENV}={env!r} is not an ISO 8601 date and time "
                                   "(e.g. 2026-12-02T06:00:00Z)") from None
    return datetime.now(timezone.utc).replace(second=0, microsecond=0), "the clock"


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _local(text: Any, tz: ZoneInfo) -> datetime | None:
    """A trigger's start or end time: wall clock in its time zone, unless it says its offset."""
    if not isinstance(text, str) or not text:
        return None
    try:
        dt = parse_time(text)
    except ValueError:
        return None  # validate reports it (M013)
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def _normal(dt: datetime, tz: ZoneInfo) -> datetime:
    """Through UTC and back: a wall-clock time a DST change skips becomes the one that exists."""
    return dt.astimezone(timezone.utc).astimezone(tz)


def show(dt: datetime) -> str:
    return dt.isoformat()


# -- cron ------------------------------------------------------------------------------------------
def azure_cron(expression: str) -> str:
    """The expression as Azure ML runs it: the day-of-month and month fields ignored (`*`)."""
    f = expression.split()
    return " ".join([f[0], f[1], "*", "*", f[4]]) if len(f) == 5 else expression


# -- fire times ------------------------------------------------------------------------------------
def next_times(trigger: Mapping[str, Any], kind: str, after: datetime,
               count: int = COUNT) -> tuple[str, list[datetime], str]:
    """(the time zone's Windows name, the next `count` fire times after `after`, a note) of a
    trigger as the graph holds it (ARM's names: expression or frequency/interval/schedule, timeZone,
    startTime, endTime). kind: "cron" or "recurrence"."""
    zone = str(trigger.get("timeZone") or "UTC")
    windows = windows_zone(zone)
    if windows is None:
        return zone, [], f"unknown time zone {zone!r}"
    tz = zone_info(windows)
    start, end = _local(trigger.get("startTime"), tz), _local(trigger.get("endTime"), tz)
    after = after.astimezone(tz)
    # Strictly after the reference; from the start itself when the start is later.
    lower = start - timedelta(microseconds=1) if start and start > after else after
    note = ""
    if kind == "cron":
        expression = trigger.get("expression")
        if not isinstance(expression, str) or not croniter.is_valid(azure_cron(expression)):
            return windows, [], "not a valid cron expression"
        it = croniter(azure_cron(expression), lower)
        times = [it.get_next(datetime) for _ in range(count)]
    else:
        times, note = _recurrence(trigger, tz, start, lower, after, count)
    times = [_normal(t, tz) for t in times]
    if end is not None and any(t > end for t in times):
        times = [t for t in times if t <= end]
        note = f"it ends at {show(end)}"
    return windows, times, note


def _ints(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in (value if isinstance(value, list) else [value])]


def _recurrence(trigger: Mapping[str, Any], tz: ZoneInfo, start: datetime | None, lower: datetime,
                after: datetime, count: int) -> tuple[list[datetime], str]:
    frequency = str(trigger.get("frequency", "")).lower()
    interval = trigger.get("interval")
    if frequency not in FREQUENCIES or not isinstance(interval, int) or interval < 1:
        return [], "not a valid recurrence"
    # With no start_time, Azure ML counts from the schedule's creation: the apply, not the plan.
    anchor = start or after
    note = "" if start else "no start_time: counted from the plan's reference time; Azure counts from the apply"
    if frequency in ("minute", "hour"):
        # A fixed step in elapsed time from the start (the pattern only applies from day up).
        # In UTC: Python adds to and subtracts an aware datetime of one zone as wall-clock time.
        step = timedelta(minutes=interval) if frequency == "minute" else timedelta(hours=interval)
        base, low = anchor.astimezone(timezone.utc), lower.astimezone(timezone.utc)
        k = 0 if low < base else (low - base) // step + 1
        return [base + (k + i) * step for i in range(count)], note
    pattern = trigger.get("schedule") or {}
    hours, minutes = _ints(pattern.get("hours")), _ints(pattern.get("minutes"))
    week_days = [WEEK_DAYS.index(str(d).lower()) for d in (pattern.get("weekDays") or [])
                 if str(d).lower() in WEEK_DAYS]
    month_days = _ints(pattern.get("monthDays"))
    # rrule's defaults come from dtstart; they are given explicitly (from the start), so that
    # dtstart can move on to the period the reference time is in without changing the rule.
    rule: dict[str, Any] = {"interval": interval, "byhour": hours or [anchor.hour],
                            "byminute": minutes or [anchor.minute],
                            "bysecond": [0] if (hours or minutes) else [anchor.second]}
    if frequency == "week":
        rule["byweekday"] = week_days or [anchor.weekday()]
    elif frequency == "month":
        if week_days:
            rule["byweekday"] = week_days
        if month_days or not week_days:
            rule["bymonthday"] = month_days or [anchor.day]
    dtstart = _period_start(frequency, interval, anchor, lower)
    found = rrule.rrule(FREQUENCIES[frequency], dtstart=dtstart, wkst=rrule.MO, **rule).xafter(lower, count=count)
    return list(found), note


def _period_start(frequency: str, interval: int, anchor: datetime, lower: datetime) -> datetime:
    """The start of the latest whole number of periods (of `interval` days, weeks or months) from
    the anchor's period that begins at or before `lower`: rrule then walks a few periods, not years
    of them, from a start in the past. The anchor itself while `lower` is in its first period."""
    tz = anchor.tzinfo
    day = anchor.date()
    if frequency == "week":
        day = day - timedelta(days=day.weekday())  # rrule's weeks start on Monday (wkst)
    elif frequency == "month":
        day = day.replace(day=1)
    target = lower.astimezone(tz).date()
    if frequency == "day":
        k = (target - day).days // interval
        moved = day + timedelta(days=k * interval)
    elif frequency == "week":
        k = (target - day).days // 7 // interval
        moved = day + timedelta(weeks=k * interval)
    else:
        k = ((target.year - day.year) * 12 + target.month - day.month) // interval
        moved = day + relativedelta(months=k * interval)
    if k <= 0:
        return anchor
    return datetime.combine(moved, time(0), tzinfo=tz)


def is_schedule(r_type: str, inputs: Mapping[str, Any]) -> bool:
    """An Azure ML Schedule: the typed resource, or the generic one a data import schedule goes
    through (controller/render/kinds/dataimport.py: the typed Schedule has no ImportData action)."""
    return r_type.endswith("machinelearningservices:Schedule") or (
        r_type == "azure-native:resources:Resource" and inputs.get("resourceType") == "schedules")


def triggers(r_type: str, inputs: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any], bool]]:
    """(action, "cron" or "recurrence", trigger, enabled) of each schedule of a resource as the graph
    holds it: an Azure ML Schedule, a feature set version's materialization schedule, or a compute
    instance's start/stop schedules
    (properties.properties.schedules.computeStartStop, the trigger under `cron` or `recurrence`)."""
    props = inputs.get("properties")
    if not isinstance(props, Mapping):
        return []
    if is_schedule(r_type, inputs):
        trigger = props.get("trigger")
        if not isinstance(trigger, Mapping):
            return []
        kind = "cron" if str(trigger.get("triggerType", "")).lower() == "cron" else "recurrence"
        return [("", kind, trigger, props.get("isEnabled", True) is not False)]
    if r_type.endswith("machinelearningservices:FeaturesetVersion"):
        # A feature set's materialization schedule (a RecurrenceTrigger); a store type of None
        # turns materialization off (azure-ai-ml's MaterializationStore: offline, online, both, none).
        settings = props.get("materializationSettings")
        trigger = settings.get("schedule") if isinstance(settings, Mapping) else None
        if not isinstance(trigger, Mapping):
            return []
        kind = "cron" if str(trigger.get("triggerType", "")).lower() == "cron" else "recurrence"
        return [("materialization", kind, trigger, str(settings.get("storeType", "")).lower() != "none")]
    inner = props.get("properties")
    schedules = inner.get("schedules") if isinstance(inner, Mapping) else None
    items = schedules.get("computeStartStop") if isinstance(schedules, Mapping) else None
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        kind = "cron" if str(item.get("triggerType", "")).lower() == "cron" else "recurrence"
        trigger = item.get(kind)
        if isinstance(trigger, Mapping):
            out.append((str(item.get("action", "")).lower(), kind, trigger,
                        str(item.get("status", "Enabled")).lower() != "disabled"))
    return out


def of_resource(r_type: str, inputs: Mapping[str, Any], after: datetime) -> tuple[FireTimes, ...]:
    """The next fire times of each schedule of a resource (see triggers), after `after`."""
    return tuple(_fire_times(action, trigger, kind, enabled, after)
                 for action, kind, trigger, enabled in triggers(r_type, inputs))


def _fire_times(action: str, trigger: Mapping[str, Any], kind: str, enabled: bool, after: datetime) -> FireTimes:
    zone, times, note = next_times(trigger, kind, after)
    if not enabled:
        return FireTimes(action, zone, (), "disabled: it does not fire")
    return FireTimes(action, zone, tuple(show(t) for t in times), note)


def text(f: FireTimes) -> str:
    """`next: 2026-12-03T02:00:00+01:00 (Romance Standard Time), 2026-12-04T..., ...` (plan's line)."""
    head = f"{f.action} next" if f.action else "next"
    if not f.times:
        return f"{head}: none ({f.note})" if f.note else f"{head}: none"
    shown = f"{f.times[0]} ({f.time_zone})" + "".join(f", {t}" for t in f.times[1:])
    return f"{head}: {shown}" + (f"; {f.note}" if f.note else "")


# -- the table -------------------------------------------------------------------------------------
# Windows name -> CLDR's main IANA zone for it, and back: tzlocal's windows_tz, generated from CLDR's
# windowsZones.xml. Two names azure-ai-ml's TimeZone enum lists that CLDR no longer maps are LEGACY,
# mapped here and never suggested: Kamchatka Standard Time (CLDR's "Russia Time Zone 11") and
# Mid-Atlantic Standard Time (UTC-2, CLDR's "UTC-02").
LEGACY = {"Kamchatka Standard Time": "Asia/Kamchatka", "Mid-Atlantic Standard Time": "Etc/GMT+2"}
WINDOWS_ZONES: dict[str, str] = {**win_tz, **LEGACY}
_BY_LOWER = {w.lower(): w for w in WINDOWS_ZONES}
_FROM_IANA: dict[str, str] = {z.lower(): w for z, w in tz_win.items()}
