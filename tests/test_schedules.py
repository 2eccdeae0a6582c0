"""Schedules you can read: validate refuses a trigger Azure ML would refuse or misread (M013, M014),
with file, line and field; plan shows each created or changed schedule's next three fire times in
its time zone, from a stated reference time. Fast: no engine."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import CORPUS, REPO, amlctl, write_tree
from controller import plan as P
from controller.checks import schedules as C
from controller.plan import firetimes as F
from controller.plan import output as plan_output
from controller.render.graph import Graph, Resource

ML = "azure-native:machinelearningservices:"
NOW = datetime(2026, 12, 2, 6, 40, tzinfo=timezone.utc)

PIPELINE = """$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  a:
    command: echo hello
    environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
"""


def schedule(name: str, trigger: str) -> str:
    return (f"$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json\nname: {name}\n"
            f"trigger:\n{trigger}create_job: ./pipeline.yml\n")


# file -> (its text, the line:col and code validate must report, a phrase of the message)
BAD = {
    "minute.yml": (schedule("minute", '  type: cron\n  expression: "61 * * * *"\n'),
                   "5:15", "M013", "the minute field '61' holds 61, outside 0-59"),
    "fields.yml": (schedule("fields", '  type: cron\n  expression: "* * *"\n'),
                   "5:15", "S003", "a cron expression has five fields"),
    "weekday.yml": (schedule("weekday", '  type: cron\n  expression: "0 2 * * 7"\n'),
                    "5:15", "M013", "outside 0-6 (Sunday is 0)"),
    "quartz.yml": (schedule("quartz", '  type: cron\n  expression: "0 2 L * *"\n'),
                   "5:15", "M013", "no L, W, #, ? or H"),
    "zone.yml": (schedule("zone", '  type: cron\n  expression: "0 2 * * *"\n  time_zone: Pacific Time\n'),
                 "6:14", "M013", "(did you mean 'Pacific Standard Time'?)"),
    "iana.yml": (schedule("iana", '  type: cron\n  expression: "0 2 * * *"\n  time_zone: Europe/Paris\n'),
                 "6:14", "M013", "write time_zone: 'Romance Standard Time'"),
    "hours.yml": (schedule("hours", "  type: recurrence\n  frequency: day\n  interval: 1\n  schedule:\n"
                                    "    hours: [25]\n    minutes: 0\n"),
                  "8:12", "S003", "trigger.schedule.hours: an hour of the day (0-23), or a list of them"),
    "nothing.yml": ("$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json\nname: nothing\n"
                    "trigger:\n  type: cron\n  expression: \"0 2 * * *\"\n",
                    "1:1", "S003", "a schedule has exactly one of create_job (a pipeline job), create_monitor"),
    "backwards.yml": (schedule("backwards", '  type: cron\n  expression: "0 2 * * *"\n'
                                            '  start_time: "2027-01-01T00:00:00"\n  end_time: "2026-06-01T00:00:00"\n'),
                      "7:13", "M013", "is not after start_time 2027-01-01T00:00:00: the schedule would never fire"),
    "notatime.yml": (schedule("notatime", '  type: cron\n  expression: "0 2 * * *"\n'
                                          '  start_time: "2026-13-01T00:00"\n'),
                     "6:15", "M013", "is not an ISO 8601 date and time"),
    "hourly.yml": (schedule("hourly", "  type: recurrence\n  frequency: hour\n  interval: 4\n  schedule:\n"
                                      "    hours: 1\n    minutes: 0\n"),
                   "8:5", "M013", "a recurrence pattern applies with frequency day, week or month"),
    "daily.yml": (schedule("daily", "  type: recurrence\n  frequency: day\n  interval: 1\n  schedule:\n"
                                    "    hours: 1\n    minutes: 0\n    week_days: monday\n"),
                  "10:16", "M013", "week_days apply with frequency week or month, not day"),
    "monthdays.yml": (schedule("monthdays", "  type: recurrence\n  frequency: week\n  interval: 1\n  schedule:\n"
                                            "    hours: 1\n    minutes: 0\n    month_days: 1\n"),
                      "10:17", "M013", "month_days apply with frequency month, not week"),
    "halfpattern.yml": (schedule("halfpattern", "  type: recurrence\n  frequency: day\n  interval: 1\n  schedule:\n"
                                                "    hours: 1\n"),
                        "8:5", "M013", "add minutes"),
}


def test_bad_triggers_are_refused_with_file_line_and_field(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"pipeline.yml": PIPELINE, **{f: case[0] for f, case in BAD.items()}})
    run = amlctl("validate", *BAD, "--skip-path-checks", cwd=root)
    assert run.code == 1, run.out + run.err
    lines = run.out.splitlines()
    for file, (_, at, code, phrase) in BAD.items():
        found = [line for line in lines if line.startswith(f"{file}:{at}: error[{code}]")]
        assert found, f"{file}: no {code} at {at} in:\n{run.out}"
        assert phrase in found[0], found[0]


def test_a_field_azure_ml_ignores_is_a_warning_saying_how_it_fires(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {
        "pipeline.yml": PIPELINE,
        "monthly.yml": schedule("monthly", '  type: cron\n  expression: "0 2 1 * *"\n'),
        "ci.yml": "apiVersion: amlctl.dev/v1alpha1\nkind: Compute\nmetadata:\n  name: ci-one\nspec:\n"
                  "  type: computeinstance\n  size: Standard_DS3_v2\n  schedules:\n    compute_start_stop:\n"
                  "      - action: stop\n        trigger:\n          type: cron\n"
                  "          expression: \"0 19 * * 1-5\"\n"
                  "          end_time: \"2027-01-01T00:00:00\"\n"})
    run = amlctl("validate", "monthly.yml", "ci.yml", "--skip-path-checks", cwd=root)
    assert run.code == 0, run.out + run.err
    assert "monthly.yml:5:15: warning[M014] Schedule/monthly: trigger.expression: '0 2 1 * *': Azure ML ignores " \
           "the day-of-month field(s) (treated as *), so it fires as '0 2 * * *' does" in run.out
    assert "ci.yml:14:21: warning[M014] Compute/ci-one: schedules.compute_start_stop[0].trigger.end_time: a compute " \
           "instance schedule has no end" in run.out


def test_the_corpus_schedules_are_accepted() -> None:
    """Every `type: cron` and `type: recurrence` of the az ml examples amlctl supports (the data-import
    and monitoring schedules are kinds it does not manage)."""
    from controller.validate import validate
    files = ["schedules/cron-job-schedule.yml", "schedules/cron-with-settings-job-schedule.yml",
             "schedules/recurrence-job-schedule.yml", "resources/compute/instance-schedule.yml"]
    report = validate(files, cwd=CORPUS, root=CORPUS.parent, skip_path_checks=True)
    assert [d.format() for d in report.diagnostics if d.code in ("M013", "M014") or d.severity.value == "error"] == []


@pytest.mark.parametrize("expression", ["0 * * * *", "15 10 * * 1", "0 18 * * *", "*/15 9-17 * * mon-fri",
                                        "0,30 4 * * 0,6", "5/10 * * * *"])
def test_cron_expressions_azure_ml_reads_pass(expression: str) -> None:
    assert list(C.cron_problems(expression)) == []


@pytest.mark.parametrize("expression, phrase", [
    ("@daily", "has 1 field(s)"), ("0 0 2 * * *", "has 6 field(s)"), ("0 24 * * *", "hour field '24' holds 24"),
    ("0 0 * * Monday", "three-letter name"), ("10-5 * * * *", "runs backwards"), ("*/0 * * * *", "step of 0"),
    ("0 0 * * 5#2", "no L, W, #"), ("0 0 * 13 *", "month field '13' holds 13, outside 1-12")])
def test_cron_expressions_azure_ml_refuses_say_which_field(expression: str, phrase: str) -> None:
    found = list(C.cron_problems(expression))
    assert found and found[0][0] == "M013" and phrase in found[0][1], found


def test_time_zones_are_windows_names_in_any_case_and_iana_names_get_theirs() -> None:
    assert C.time_zone_problem("Pacific Standard Time") is None and C.time_zone_problem("utc") is None
    assert C.time_zone_problem("Omsk Standard Time") is None  # a Windows zone azure-ai-ml's enum lacks
    assert "write time_zone: 'Eastern Standard Time'" in C.time_zone_problem("America/New_York")
    assert "write time_zone: 'UTC'" in C.time_zone_problem("Etc/UTC")
    assert "not a time zone Azure ML takes" in C.time_zone_problem("Mars/Olympus")


def test_every_name_of_azure_ai_mls_time_zone_enum_is_taken_and_maps_to_a_zone() -> None:
    from zoneinfo import ZoneInfo
    from azure.ai.ml.constants import TimeZone
    for tz in TimeZone:
        assert F.windows_zone(tz.value) == tz.value
        ZoneInfo(F.WINDOWS_ZONES[tz.value].split()[0])


# -- fire times ------------------------------------------------------------------------------------
def fires(trigger: dict, kind: str = "cron", now: datetime = NOW) -> str:
    return F.text(F._fire_times("", trigger, kind, True, now))


def test_cron_fire_times_are_in_the_schedules_time_zone() -> None:
    assert fires({"expression": "0 2 * * *", "timeZone": "Romance Standard Time"}) == (
        "next: 2026-12-03T02:00:00+01:00 (Romance Standard Time), 2026-12-04T02:00:00+01:00, "
        "2026-12-05T02:00:00+01:00")
    # Weekdays at 19:00 in Berlin: 07:40 there on Wednesday, so Wednesday to Friday.
    assert fires({"expression": "0 19 * * 1-5", "timeZone": "W. Europe Standard Time"}).startswith(
        "next: 2026-12-02T19:00:00+01:00 (W. Europe Standard Time), 2026-12-03T19:00:00+01:00, 2026-12-04T19")
    # Across a DST change the offset follows the zone.
    assert fires({"expression": "0 9 * * *", "timeZone": "Pacific Standard Time"},
                 now=datetime(2027, 3, 13, 20, tzinfo=timezone.utc)) == (
        "next: 2027-03-14T09:00:00-07:00 (Pacific Standard Time), 2027-03-15T09:00:00-07:00, "
        "2027-03-16T09:00:00-07:00")


def test_cron_fire_times_start_at_start_time_end_at_end_time_and_ignore_days_as_azure_does() -> None:
    assert fires({"expression": "0 2 * * *", "startTime": "2027-01-10T00:00:00", "endTime": "2027-01-11T12:00:00"}) \
        == ("next: 2027-01-10T02:00:00+00:00 (UTC), 2027-01-11T02:00:00+00:00; it ends at "
            "2027-01-11T12:00:00+00:00")
    assert fires({"expression": "0 2 1 * *"}).startswith("next: 2026-12-03T02:00:00+00:00 (UTC), 2026-12-04T02")


def test_recurrence_fire_times() -> None:
    # The corpus's: every day at 4, 5, 10, 11 and 12 o'clock, on the hour and half past, in Pacific time.
    corpus = {"frequency": "Day", "interval": 1, "schedule": {"hours": [4, 5, 10, 11, 12], "minutes": [0, 30]},
              "startTime": "2022-07-10T10:00:00", "timeZone": "Pacific Standard Time"}
    assert fires(corpus, "recurrence") == ("next: 2026-12-02T04:00:00-08:00 (Pacific Standard Time), "
                                           "2026-12-02T04:30:00-08:00, 2026-12-02T05:00:00-08:00")
    # Every other week from the week of 2026-11-23: that week, then the weeks of 12-07 and 12-21.
    biweekly = {"frequency": "Week", "interval": 2, "startTime": "2026-11-25T10:00:00",
                "schedule": {"hours": [4], "minutes": [0], "weekDays": ["Monday", "Friday"]}}
    assert fires(biweekly, "recurrence") == ("next: 2026-12-07T04:00:00+00:00 (UTC), 2026-12-11T04:00:00+00:00, "
                                             "2026-12-21T04:00:00+00:00")
    # The 31st of each month skips the months without one (as Azure ML documents).
    monthly = {"frequency": "Month", "interval": 1, "startTime": "2022-07-10T10:00:00",
               "schedule": {"hours": [1], "minutes": [0], "monthDays": [31]}}
    assert fires(monthly, "recurrence") == ("next: 2026-12-31T01:00:00+00:00 (UTC), 2027-01-31T01:00:00+00:00, "
                                            "2027-03-31T01:00:00+00:00")
    # No pattern: every `interval` from start_time (in elapsed time for minutes and hours).
    assert fires({"frequency": "Minute", "interval": 7, "startTime": "2026-12-02T06:00:00"}, "recurrence") == (
        "next: 2026-12-02T06:42:00+00:00 (UTC), 2026-12-02T06:49:00+00:00, 2026-12-02T06:56:00+00:00")
    # Hourly is elapsed time: across the spring-forward night the wall clock jumps from 01:59 to 03:00.
    spring = datetime(2027, 3, 28, 0, 30, tzinfo=timezone.utc)
    assert fires({"frequency": "Hour", "interval": 1, "startTime": "2027-03-27T23:00:00",
                  "timeZone": "Romance Standard Time"}, "recurrence", now=spring) == (
        "next: 2027-03-28T03:00:00+02:00 (Romance Standard Time), 2027-03-28T04:00:00+02:00, "
        "2027-03-28T05:00:00+02:00")
    assert fires({"frequency": "Month", "interval": 3, "startTime": "2022-07-10T10:00:00"}, "recurrence") == (
        "next: 2027-01-10T10:00:00+00:00 (UTC), 2027-04-10T10:00:00+00:00, 2027-07-10T10:00:00+00:00")


def test_a_disabled_schedule_does_not_fire() -> None:
    f = F.of_resource(ML + "Schedule", {"properties": {"isEnabled": False, "trigger": {
        "triggerType": "Cron", "expression": "0 2 * * *"}}}, NOW)
    assert [F.text(x) for x in f] == ["next: none (disabled: it does not fire)"]


# -- plan ------------------------------------------------------------------------------------------
def graph(*resources: Resource) -> Graph:
    return Graph("dev", tuple(sorted(resources, key=lambda r: r.name)))


SCHEDULE = Resource("ws/pipeline/nightly/schedule", ML + "Schedule", {"name": "nightly", "properties": {
    "isEnabled": True, "trigger": {"triggerType": "Cron", "expression": "0 2 * * *",
                                   "timeZone": "Romance Standard Time"}}}, "Pipeline/nightly")
INSTANCE = Resource("ws/compute/ci", "azure-native:resources:Resource", {"properties": {"properties": {
    "schedules": {"computeStartStop": [{"action": "Stop", "status": "Enabled", "triggerType": "Recurrence",
                                        "recurrence": {"frequency": "Week", "interval": 1,
                                                       "schedule": {"hours": [19], "minutes": [0],
                                                                    "weekDays": ["Friday"]},
                                                       "timeZone": "UTC"}}]}}}}, "Compute/ci")


def test_plan_shows_the_next_fire_times_of_a_created_schedule_in_every_output() -> None:
    plan = P.diff(None, graph(SCHEDULE, INSTANCE), now=NOW)
    assert plan.fire_times_from == "2026-12-02T06:40:00+00:00" and plan.fire_times_basis == "given"
    text = plan_output.text(plan)
    assert ("      next: 2026-12-03T02:00:00+01:00 (Romance Standard Time), 2026-12-04T02:00:00+01:00, "
            "2026-12-05T02:00:00+01:00") in text
    assert ("      stop next: 2026-12-04T19:00:00+00:00 (UTC), 2026-12-11T19:00:00+00:00, "
            "2026-12-18T19:00:00+00:00") in text
    assert "Fire times are the next after 2026-12-02T06:40:00+00:00 (given)." in text
    data = json.loads(plan_output.as_json(plan))
    sched = next(c for c in data["changes"] if c["name"] == SCHEDULE.name)
    assert sched["fire_times"] == [{"action": None, "time_zone": "Romance Standard Time", "note": None, "next": [
        "2026-12-03T02:00:00+01:00", "2026-12-04T02:00:00+01:00", "2026-12-05T02:00:00+01:00"]}]
    assert data["fire_times_from"] == {"time": "2026-12-02T06:40:00+00:00", "basis": "given"}
    assert "create<br>next: 2026-12-03T02:00:00+01:00 (Romance Standard Time)" in plan_output.markdown(plan)


def test_a_changed_trigger_shows_the_new_fire_times_and_an_unrelated_change_none() -> None:
    moved = Resource(SCHEDULE.name, SCHEDULE.type, {"name": "nightly", "properties": {
        "isEnabled": True, "trigger": {"triggerType": "Cron", "expression": "30 3 * * 1",
                                       "timeZone": "Romance Standard Time"}}}, SCHEDULE.subject)
    plan = P.diff(graph(SCHEDULE), graph(moved), now=NOW)
    (c,) = plan.changes
    assert c.action == P.UPDATE and [F.text(f) for f in c.fire_times] == [
        "next: 2026-12-07T03:30:00+01:00 (Romance Standard Time), 2026-12-14T03:30:00+01:00, "
        "2026-12-21T03:30:00+01:00"]
    # A compute instance whose schedules did not change: no fire times, and no reference time read.
    resized = Resource(INSTANCE.name, INSTANCE.type, {**INSTANCE.inputs, "location": "westeurope"}, INSTANCE.subject)
    plan = P.diff(graph(INSTANCE), graph(resized), now=NOW)
    assert plan.changes[0].fire_times == () and plan.fire_times_from == ""


def test_plan_fire_times_count_from_amlctl_plan_now_and_are_byte_identical(tmp_path: Path) -> None:
    """The example estate's first apply (a pipeline schedule, a compute instance that stops at 19:00,
    the endpoint's monitor at 06:00 and the feature set's materialization at 02:00, Central European)."""
    import os
    env_now = "2026-12-02T06:40:00Z"
    runs = []
    for _ in range(2):
        os.environ[F.ENV] = env_now
        try:
            runs.append(amlctl("plan", "--stack", "dev", "--from-scratch", "--output", "json", cwd=REPO))
        finally:
            del os.environ[F.ENV]
    assert runs[0].code == 0, runs[0].err
    assert runs[0].out == runs[1].out
    data = json.loads(runs[0].out)
    assert data["fire_times_from"] == {"time": "2026-12-02T06:40:00+00:00", "basis": F.ENV}
    fired = {c["name"]: c["fire_times"][0]["next"][0] for c in data["changes"] if c["fire_times"]}
    assert fired == {"mlw-credit/pipeline/credit-training/schedule": "2026-12-03T02:00:00+00:00",
                     "mlw-credit/compute/ci-risk-dev": "2026-12-02T19:00:00+01:00",
                     "mlw-credit/schedule/credit-online-monitor": "2026-12-03T06:00:00+01:00",
                     "fs-credit/feature-set/payment-history@1": "2026-12-03T02:00:00+01:00"}


def test_a_bad_amlctl_plan_now_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    monkeypatch.setenv(F.ENV, "yesterday")
    with pytest.raises(click.UsageError, match="AMLCTL_PLAN_NOW='yesterday' is not an ISO 8601"):
        P.diff(None, graph(SCHEDULE))


def test_moving_a_recurrence_on_to_the_reference_period_changes_no_fire_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """plan starts rrule at the period the reference time is in, not years back at start_time: the
    same times as walking from start_time, for random recurrences."""
    import random
    from datetime import timedelta
    rnd = random.Random(14)
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    for _ in range(60):
        frequency = rnd.choice(["Day", "Week", "Month"])
        pattern = {"hours": rnd.sample(range(24), 2), "minutes": rnd.sample(range(60), 2)} if rnd.random() < 0.7 else {}
        if pattern and frequency != "Day" and rnd.random() < 0.5:
            pattern["weekDays"] = rnd.sample(days, 2)
        if pattern and frequency == "Month" and rnd.random() < 0.5:
            pattern["monthDays"] = rnd.sample(range(1, 32), 2)
        start = datetime(2022, 1, 1) + timedelta(minutes=rnd.randint(0, 60 * 24 * 900))
        trigger = {"frequency": frequency, "interval": rnd.randint(1, 5), "startTime": start.isoformat(),
                   "timeZone": rnd.choice(["UTC", "Romance Standard Time", "Pacific Standard Time"]),
                   **({"schedule": pattern} if pattern else {})}
        now = NOW + timedelta(minutes=rnd.randint(0, 60 * 24 * 60))
        moved = F.next_times(trigger, "recurrence", now)
        with monkeypatch.context() as m:
            m.setattr(F, "_period_start", lambda frequency, interval, anchor, lower: anchor)
            assert F.next_times(trigger, "recurrence", now) == moved, trigger
