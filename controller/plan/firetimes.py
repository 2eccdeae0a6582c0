"""When an Azure ML schedule fires: the time zones Azure ML takes and the next fire times of a
trigger, for `plan` (and the names, for validate's checks, controller/checks/schedules.py).

Azure ML takes Windows time-zone names ("Pacific Standard Time", "UTC"); Python's zoneinfo knows
IANA names only. WINDOWS_ZONES below maps one to the other: CLDR's windowsZones.xml, the mapping
Unicode keeps for exactly this, copied from tzlocal 5.4.5 (tzlocal.windows_tz, generated from CLDR)
for the names azure-ai-ml's TimeZone enum lists (azure.ai.ml.constants, 131 names: Azure ML's
documented list) plus the ten Windows zones CLDR has that the enum does not (Omsk, Volgograd, Yukon,
...). Each line is the Windows name, then its IANA zones, CLDR's main one ("001") first.

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
    return ZoneInfo(WINDOWS_ZONES[windows].split()[0])


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


def triggers(r_type: str, inputs: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any], bool]]:
    """(action, "cron" or "recurrence", trigger, enabled) of each schedule of a resource as the graph
    holds it: an Azure ML Schedule, or a compute instance's start/stop schedules
    (properties.properties.schedules.computeStartStop, the trigger under `cron` or `recurrence`)."""
    props = inputs.get("properties")
    if not isinstance(props, Mapping):
        return []
    if r_type.endswith("machinelearningservices:Schedule"):
        trigger = props.get("trigger")
        if not isinstance(trigger, Mapping):
            return []
        kind = "cron" if str(trigger.get("triggerType", "")).lower() == "cron" else "recurrence"
        return [("", kind, trigger, props.get("isEnabled", True) is not False)]
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
# Windows name -> its IANA zones, CLDR's main one first (CLDR windowsZones.xml through tzlocal 5.4.5's
# windows_tz; regenerate from there, never by hand). Two names azure-ai-ml lists that CLDR no longer
# maps are LEGACY, mapped here by hand and never suggested: Kamchatka Standard Time (Asia/Kamchatka;
# CLDR's name for it is "Russia Time Zone 11") and Mid-Atlantic Standard Time (UTC-2, as "UTC-02").
WINDOWS_ZONES: dict[str, str] = {
    "Afghanistan Standard Time": "Asia/Kabul",
    "Alaskan Standard Time": (
        "America/Anchorage America/Juneau America/Metlakatla America/Nome America/Sitka America/Yakutat "
        "US/Alaska"),
    "Aleutian Standard Time": "America/Adak America/Atka US/Aleutian",
    "Altai Standard Time": "Asia/Barnaul",
    "Arab Standard Time": "Asia/Riyadh Asia/Aden Asia/Bahrain Asia/Kuwait Asia/Qatar",
    "Arabian Standard Time": "Asia/Dubai Asia/Muscat Etc/GMT-4",
    "Arabic Standard Time": "Asia/Baghdad",
    "Argentina Standard Time": (
        "America/Buenos_Aires America/Argentina/Buenos_Aires America/Argentina/Catamarca "
        "America/Argentina/ComodRivadavia America/Argentina/Cordoba America/Argentina/Jujuy "
        "America/Argentina/La_Rioja America/Argentina/Mendoza America/Argentina/Rio_Gallegos "
        "America/Argentina/Salta America/Argentina/San_Juan America/Argentina/San_Luis "
        "America/Argentina/Tucuman America/Argentina/Ushuaia America/Catamarca America/Cordoba America/Jujuy "
        "America/Mendoza America/Rosario"),
    "Astrakhan Standard Time": "Europe/Astrakhan Europe/Ulyanovsk",
    "Atlantic Standard Time": (
        "America/Halifax America/Glace_Bay America/Goose_Bay America/Moncton America/Thule Atlantic/Bermuda "
        "Canada/Atlantic"),
    "AUS Central Standard Time": "Australia/Darwin Australia/North",
    "Aus Central W. Standard Time": "Australia/Eucla",
    "AUS Eastern Standard Time": (
        "Australia/Sydney Australia/ACT Australia/Canberra Australia/Melbourne Australia/NSW "
        "Australia/Victoria"),
    "Azerbaijan Standard Time": "Asia/Baku",
    "Azores Standard Time": "Atlantic/Azores America/Scoresbysund",
    "Bahia Standard Time": "America/Bahia",
    "Bangladesh Standard Time": "Asia/Dhaka Asia/Dacca Asia/Thimbu Asia/Thimphu",
    "Belarus Standard Time": "Europe/Minsk",
    "Bougainville Standard Time": "Pacific/Bougainville",
    "Canada Central Standard Time": "America/Regina America/Swift_Current Canada/Saskatchewan",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde Etc/GMT+1",
    "Caucasus Standard Time": "Asia/Yerevan",
    "Cen. Australia Standard Time": "Australia/Adelaide Australia/Broken_Hill Australia/South Australia/Yancowinna",
    "Central America Standard Time": (
        "America/Guatemala America/Belize America/Costa_Rica America/El_Salvador America/Managua "
        "America/Tegucigalpa Etc/GMT+6 Pacific/Galapagos"),
    "Central Asia Standard Time": "Asia/Bishkek Antarctica/Vostok Asia/Kashgar Asia/Urumqi Etc/GMT-6 Indian/Chagos",
    "Central Brazilian Standard Time": "America/Cuiaba America/Campo_Grande",
    "Central Europe Standard Time": (
        "Europe/Budapest Europe/Belgrade Europe/Bratislava Europe/Ljubljana Europe/Podgorica Europe/Prague "
        "Europe/Tirane"),
    "Central European Standard Time": "Europe/Warsaw Europe/Sarajevo Europe/Skopje Europe/Zagreb Poland",
    "Central Pacific Standard Time": (
        "Pacific/Guadalcanal Antarctica/Casey Etc/GMT-11 Pacific/Efate Pacific/Kosrae Pacific/Noumea "
        "Pacific/Pohnpei Pacific/Ponape"),
    "Central Standard Time": (
        "America/Chicago America/Indiana/Knox America/Indiana/Tell_City America/Knox_IN America/Matamoros "
        "America/Menominee America/North_Dakota/Beulah America/North_Dakota/Center "
        "America/North_Dakota/New_Salem America/Ojinaga America/Rankin_Inlet America/Resolute US/Central "
        "US/Indiana-Starke"),
    "Central Standard Time (Mexico)": (
        "America/Mexico_City  America/Bahia_Banderas America/Chihuahua America/Merida America/Monterrey "
        "Mexico/General"),
    "Chatham Islands Standard Time": "Pacific/Chatham NZ-CHAT",
    "China Standard Time": (
        "Asia/Shanghai Asia/Chongqing Asia/Chungking Asia/Harbin Asia/Hong_Kong Asia/Macao Asia/Macau "
        "Hongkong PRC"),
    "Cuba Standard Time": "America/Havana Cuba",
    "Dateline Standard Time": "Etc/GMT+12",
    "E. Africa Standard Time": (
        "Africa/Nairobi Africa/Addis_Ababa Africa/Asmara Africa/Asmera Africa/Dar_es_Salaam Africa/Djibouti "
        "Africa/Kampala Africa/Mogadishu Antarctica/Syowa Etc/GMT-3 Indian/Antananarivo Indian/Comoro "
        "Indian/Mayotte"),
    "E. Australia Standard Time": "Australia/Brisbane Australia/Lindeman Australia/Queensland",
    "E. Europe Standard Time": "Europe/Chisinau Europe/Tiraspol",
    "E. South America Standard Time": "America/Sao_Paulo Brazil/East",
    "Easter Island Standard Time": "Pacific/Easter Chile/EasterIsland",
    "Eastern Standard Time": (
        "America/New_York America/Detroit America/Indiana/Petersburg America/Indiana/Vincennes "
        "America/Indiana/Winamac America/Iqaluit America/Kentucky/Louisville America/Kentucky/Monticello "
        "America/Louisville America/Montreal America/Nassau America/Nipigon America/Pangnirtung "
        "America/Thunder_Bay America/Toronto Canada/Eastern US/Eastern US/Michigan"),
    "Eastern Standard Time (Mexico)": "America/Cancun",
    "Egypt Standard Time": "Africa/Cairo Egypt",
    "Ekaterinburg Standard Time": "Asia/Yekaterinburg",
    "Fiji Standard Time": "Pacific/Fiji",
    "FLE Standard Time": (
        "Europe/Kiev Europe/Helsinki Europe/Kyiv Europe/Mariehamn Europe/Riga Europe/Sofia Europe/Tallinn "
        "Europe/Vilnius"),
    "Georgian Standard Time": "Asia/Tbilisi",
    "GMT Standard Time": (
        "Europe/London Atlantic/Canary Atlantic/Faeroe Atlantic/Faroe Atlantic/Madeira Eire Europe/Belfast "
        "Europe/Dublin Europe/Guernsey Europe/Isle_of_Man Europe/Jersey Europe/Lisbon GB GB-Eire Portugal WET"),
    "Greenland Standard Time": "America/Godthab America/Nuuk",
    "Greenwich Standard Time": (
        "Atlantic/Reykjavik Africa/Abidjan Africa/Accra Africa/Bamako Africa/Banjul Africa/Bissau "
        "Africa/Conakry Africa/Dakar Africa/Freetown Africa/Lome Africa/Monrovia Africa/Nouakchott "
        "Africa/Ouagadougou Africa/Timbuktu America/Danmarkshavn Atlantic/St_Helena Iceland"),
    "GTB Standard Time": "Europe/Bucharest Asia/Famagusta Asia/Nicosia EET Europe/Athens Europe/Nicosia",
    "Haiti Standard Time": "America/Port-au-Prince",
    "Hawaiian Standard Time": (
        "Pacific/Honolulu Etc/GMT+10 HST Pacific/Johnston Pacific/Rarotonga Pacific/Tahiti US/Hawaii"),
    "India Standard Time": "Asia/Calcutta Asia/Kolkata",
    "Iran Standard Time": "Asia/Tehran Iran",
    "Israel Standard Time": "Asia/Jerusalem Asia/Tel_Aviv Israel",
    "Jordan Standard Time": "Asia/Amman",
    "Kaliningrad Standard Time": "Europe/Kaliningrad",
    "Kamchatka Standard Time": "Asia/Kamchatka",
    "Korea Standard Time": "Asia/Seoul ROK",
    "Libya Standard Time": "Africa/Tripoli Libya",
    "Line Islands Standard Time": "Pacific/Kiritimati Etc/GMT-14",
    "Lord Howe Standard Time": "Australia/Lord_Howe Australia/LHI",
    "Magadan Standard Time": "Asia/Magadan",
    "Magallanes Standard Time": "America/Punta_Arenas America/Coyhaique",
    "Marquesas Standard Time": "Pacific/Marquesas",
    "Mauritius Standard Time": "Indian/Mauritius Indian/Mahe Indian/Reunion",
    "Mid-Atlantic Standard Time": "Etc/GMT+2",
    "Middle East Standard Time": "Asia/Beirut",
    "Montevideo Standard Time": "America/Montevideo",
    "Morocco Standard Time": "Africa/Casablanca Africa/El_Aaiun",
    "Mountain Standard Time": (
        "America/Denver America/Boise America/Cambridge_Bay America/Ciudad_Juarez America/Shiprock Navajo "
        "US/Mountain"),
    "Mountain Standard Time (Mexico)": "America/Mazatlan Mexico/BajaSur",
    "Myanmar Standard Time": "Asia/Rangoon Asia/Yangon Indian/Cocos",
    "N. Central Asia Standard Time": "Asia/Novosibirsk",
    "Namibia Standard Time": "Africa/Windhoek",
    "Nepal Standard Time": "Asia/Katmandu Asia/Kathmandu",
    "New Zealand Standard Time": "Pacific/Auckland Antarctica/McMurdo Antarctica/South_Pole NZ",
    "Newfoundland Standard Time": "America/St_Johns Canada/Newfoundland",
    "Norfolk Standard Time": "Pacific/Norfolk",
    "North Asia East Standard Time": "Asia/Irkutsk",
    "North Asia Standard Time": "Asia/Krasnoyarsk Asia/Novokuznetsk",
    "North Korea Standard Time": "Asia/Pyongyang",
    "Omsk Standard Time": "Asia/Omsk",
    "Pacific SA Standard Time": "America/Santiago Chile/Continental",
    "Pacific Standard Time": "America/Los_Angeles US/Pacific",
    "Pacific Standard Time (Mexico)": "America/Tijuana America/Ensenada America/Santa_Isabel Mexico/BajaNorte",
    "Pakistan Standard Time": "Asia/Karachi",
    "Paraguay Standard Time": "America/Asuncion",
    "Qyzylorda Standard Time": "Asia/Qyzylorda",
    "Romance Standard Time": "Europe/Paris Africa/Ceuta CET Europe/Brussels Europe/Copenhagen Europe/Madrid MET",
    "Russia Time Zone 10": "Asia/Srednekolymsk",
    "Russia Time Zone 11": "Asia/Kamchatka Asia/Anadyr",
    "Russia Time Zone 3": "Europe/Samara",
    "Russian Standard Time": "Europe/Moscow Europe/Kirov Europe/Simferopol W-SU",
    "SA Eastern Standard Time": (
        "America/Cayenne America/Belem America/Fortaleza America/Maceio America/Paramaribo America/Recife "
        "America/Santarem Antarctica/Palmer Antarctica/Rothera Atlantic/Stanley Etc/GMT+3"),
    "SA Pacific Standard Time": (
        "America/Bogota America/Atikokan America/Cayman America/Coral_Harbour America/Eirunepe "
        "America/Guayaquil America/Jamaica America/Lima America/Panama America/Porto_Acre America/Rio_Branco "
        "Brazil/Acre EST Etc/GMT+5 Jamaica"),
    "SA Western Standard Time": (
        "America/La_Paz America/Anguilla America/Antigua America/Aruba America/Barbados America/Blanc-Sablon "
        "America/Boa_Vista America/Curacao America/Dominica America/Grenada America/Guadeloupe America/Guyana "
        "America/Kralendijk America/Lower_Princes America/Manaus America/Marigot America/Martinique "
        "America/Montserrat America/Port_of_Spain America/Porto_Velho America/Puerto_Rico "
        "America/Santo_Domingo America/St_Barthelemy America/St_Kitts America/St_Lucia America/St_Thomas "
        "America/St_Vincent America/Tortola America/Virgin Brazil/West Etc/GMT+4"),
    "Saint Pierre Standard Time": "America/Miquelon",
    "Sakhalin Standard Time": "Asia/Sakhalin",
    "Samoa Standard Time": "Pacific/Apia",
    "Sao Tome Standard Time": "Africa/Sao_Tome",
    "Saratov Standard Time": "Europe/Saratov",
    "SE Asia Standard Time": (
        "Asia/Bangkok Antarctica/Davis Asia/Ho_Chi_Minh Asia/Jakarta Asia/Phnom_Penh Asia/Pontianak "
        "Asia/Saigon Asia/Vientiane Etc/GMT-7 Indian/Christmas"),
    "Singapore Standard Time": (
        "Asia/Singapore Asia/Brunei Asia/Kuala_Lumpur Asia/Kuching Asia/Makassar Asia/Manila "
        "Asia/Ujung_Pandang Etc/GMT-8 Singapore"),
    "South Africa Standard Time": (
        "Africa/Johannesburg Africa/Blantyre Africa/Bujumbura Africa/Gaborone Africa/Harare Africa/Kigali "
        "Africa/Lubumbashi Africa/Lusaka Africa/Maputo Africa/Maseru Africa/Mbabane Etc/GMT-2"),
    "South Sudan Standard Time": "Africa/Juba",
    "Sri Lanka Standard Time": "Asia/Colombo",
    "Sudan Standard Time": "Africa/Khartoum",
    "Syria Standard Time": "Asia/Damascus",
    "Taipei Standard Time": "Asia/Taipei ROC",
    "Tasmania Standard Time": "Australia/Hobart Antarctica/Macquarie Australia/Currie Australia/Tasmania",
    "Tocantins Standard Time": "America/Araguaina",
    "Tokyo Standard Time": "Asia/Tokyo Asia/Dili Asia/Jayapura Etc/GMT-9 Japan Pacific/Palau",
    "Tomsk Standard Time": "Asia/Tomsk",
    "Tonga Standard Time": "Pacific/Tongatapu",
    "Transbaikal Standard Time": "Asia/Chita",
    "Turkey Standard Time": "Europe/Istanbul Asia/Istanbul Turkey",
    "Turks And Caicos Standard Time": "America/Grand_Turk",
    "Ulaanbaatar Standard Time": "Asia/Ulaanbaatar Asia/Choibalsan Asia/Ulan_Bator",
    "US Eastern Standard Time": (
        "America/Indianapolis America/Fort_Wayne America/Indiana/Indianapolis America/Indiana/Marengo "
        "America/Indiana/Vevay"),
    "US Mountain Standard Time": (
        "America/Phoenix America/Creston America/Dawson_Creek America/Fort_Nelson America/Hermosillo "
        "Etc/GMT+7 MST US/Arizona"),
    "UTC": (
        "Etc/UTC Etc/GMT Etc/GMT+0 Etc/GMT-0 Etc/GMT0 Etc/Greenwich Etc/UCT Etc/Universal Etc/Zulu GMT+0 "
        "GMT-0 GMT0 Greenwich UCT UTC Universal Zulu"),
    "UTC+12": (
        "Etc/GMT-12 Kwajalein Pacific/Funafuti Pacific/Kwajalein Pacific/Majuro Pacific/Nauru Pacific/Tarawa "
        "Pacific/Wake Pacific/Wallis"),
    "UTC+13": "Etc/GMT-13 Pacific/Enderbury Pacific/Fakaofo Pacific/Kanton",
    "UTC-02": "Etc/GMT+2 America/Noronha Atlantic/South_Georgia Brazil/DeNoronha",
    "UTC-08": "Etc/GMT+8 Pacific/Pitcairn",
    "UTC-09": "Etc/GMT+9 Pacific/Gambier",
    "UTC-11": "Etc/GMT+11 Pacific/Midway Pacific/Niue Pacific/Pago_Pago Pacific/Samoa US/Samoa",
    "Venezuela Standard Time": "America/Caracas",
    "Vladivostok Standard Time": "Asia/Vladivostok Asia/Ust-Nera",
    "Volgograd Standard Time": "Europe/Volgograd",
    "W. Australia Standard Time": "Australia/Perth Australia/West",
    "W. Central Africa Standard Time": (
        "Africa/Lagos Africa/Algiers Africa/Bangui Africa/Brazzaville Africa/Douala Africa/Kinshasa "
        "Africa/Libreville Africa/Luanda Africa/Malabo Africa/Ndjamena Africa/Niamey Africa/Porto-Novo "
        "Africa/Tunis Etc/GMT-1"),
    "W. Europe Standard Time": (
        "Europe/Berlin Arctic/Longyearbyen Atlantic/Jan_Mayen Europe/Amsterdam Europe/Andorra Europe/Busingen "
        "Europe/Gibraltar Europe/Luxembourg Europe/Malta Europe/Monaco Europe/Oslo Europe/Rome "
        "Europe/San_Marino Europe/Stockholm Europe/Vaduz Europe/Vatican Europe/Vienna Europe/Zurich"),
    "W. Mongolia Standard Time": "Asia/Hovd",
    "West Asia Standard Time": (
        "Asia/Tashkent Antarctica/Mawson Asia/Almaty Asia/Aqtau Asia/Aqtobe Asia/Ashgabat Asia/Ashkhabad "
        "Asia/Atyrau Asia/Dushanbe Asia/Oral Asia/Qostanay Asia/Samarkand Etc/GMT-5 Indian/Kerguelen "
        "Indian/Maldives"),
    "West Bank Standard Time": "Asia/Hebron Asia/Gaza",
    "West Pacific Standard Time": (
        "Pacific/Port_Moresby Antarctica/DumontDUrville Etc/GMT-10 Pacific/Chuuk Pacific/Guam Pacific/Saipan "
        "Pacific/Truk Pacific/Yap"),
    "Yakutsk Standard Time": "Asia/Yakutsk Asia/Khandyga",
    "Yukon Standard Time": "America/Whitehorse America/Dawson Canada/Yukon",
}
LEGACY = {"Kamchatka Standard Time", "Mid-Atlantic Standard Time"}
_BY_LOWER = {w.lower(): w for w in WINDOWS_ZONES}
_FROM_IANA: dict[str, str] = {}
for _w, _zones in WINDOWS_ZONES.items():
    for _z in _zones.split():
        if _w not in LEGACY:
            _FROM_IANA.setdefault(_z.lower(), _w)
