"""The rollout stage as data: decide() and overlay() on plain inputs, no engine (controller.rollout).

The engine tests (tests/test_rollout_engine.py) run the same flows through apply on the local
target; these cover every branch of a release's life fast."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from controller.render.graph import Graph, Resource
from controller.rollout import overlay as O  # the module
from controller.rollout.decide import (ADVANCED, BACK, DONE, HELD, RESTARTED, STARTED, WAITING, Endpoint, decide,
                                       derived)
from controller.rollout.health import FAIL, PASS, WAIT, Gates, Health, judge
from controller.rollout.policy import Policy, seconds
from controller.rollout.record import Applied, Record

T0 = dt.datetime(2026, 12, 2, 6, 0, 0, tzinfo=dt.timezone.utc)
OLD = {"replace": "r-old", "release": "a-old"}
NEW = {"replace": "r-new", "release": "b-new"}
SCALED = {"replace": "r-old", "release": "a-old"}  # scale is no release: both digests stay
CANARY = Policy.from_input({"steps": [{"canary": 10, "gates": {"success_rate": 99, "min_requests": 100}},
                                      {"canary": 50, "pause": "10m"}], "gates": {"http_5xx": 5}})
GOOD = Health(1000, 1, 99.9, 120.0, "test")
BAD = Health(1000, 3, 92.0, 120.0, "test")  # many 4xx: under the 5xx limit, far from 99% success


def ep(digests=NEW, policy=Policy(), traffic=None, mirror=None, kind="online", default=None, more=None):
    return Endpoint("w/online-endpoint/e/traffic", "OnlineEndpoint/e", kind, policy,
                    {"blue": digests, **(more or {})}, traffic if traffic is not None else {"blue": 100},
                    mirror or {}, default)


def applied(record=None, traffic=None, **kw):
    return Applied(record or Record(digests={"blue": OLD}), traffic if traffic is not None else {"blue": 100}, **kw)


def health_of(h):
    return lambda name, since: h


def test_the_first_record_starts_nothing_and_a_change_no_one_recorded_is_not_a_release():
    d = decide(ep(), applied(Record()), T0)
    assert d.nodes == {"blue": (("blue", False),)} and d.traffic == {"blue": 100} and not d.event
    assert d.record.digests == {"blue": NEW}


def test_a_replace_of_a_deployment_that_serves_is_blue_green_in_one_apply():
    d = decide(ep(), applied(), T0)
    new = derived("blue", NEW["release"])
    assert d.event == DONE and d.nodes == {"blue": ((new, False),)}
    assert d.traffic == {new: 100} and d.retired == ("blue",)
    assert d.record.names == {"blue": new} and d.record.digests["blue"] == NEW and d.record.release is None
    assert d.record.last["result"] == "completed"
    # The next run: the manifest's blue is the new deployment, and nothing moves.
    again = decide(ep(), applied(d.record, {new: 100}), T0)
    assert again.nodes == {"blue": ((new, False),)} and again.traffic == {new: 100} and not again.event


def test_a_deployment_without_traffic_is_changed_as_it_is():
    d = decide(ep(traffic={"blue": 0}), applied(traffic={"blue": 0}), T0)
    assert d.nodes == {"blue": (("blue", False),)} and not d.event and d.record.digests["blue"] == NEW


def test_scale_is_no_release_even_under_a_policy():
    d = decide(ep(SCALED, CANARY), applied(), T0)
    assert d.nodes == {"blue": (("blue", False),)} and not d.event


def test_a_canary_splits_the_share_of_the_deployment_it_replaces_and_keeps_the_old_one_frozen():
    d = decide(ep(NEW, CANARY, {"blue": 90, "green": 10}, more={"green": OLD}),
               applied(Record(digests={"blue": OLD, "green": OLD}), {"blue": 90, "green": 10}), T0)
    new = derived("blue", NEW["release"])
    assert d.event == STARTED and d.nodes["blue"] == (("blue", True), (new, False))
    assert d.traffic == {"blue": 81, new: 9, "green": 10}
    assert d.record.release.step == 0 and d.record.release.previous["traffic"] == {"blue": 90, "green": 10}
    assert d.record.digests["blue"] == OLD, "the old content stays recorded until the release completes"


def _started():
    return decide(ep(NEW, CANARY), applied(), T0).record


def test_steps_advance_one_per_apply_when_they_hold_then_all_traffic_moves():
    rec = _started()
    new = derived("blue", NEW["release"])
    waiting = decide(ep(NEW, CANARY), applied(rec, {"blue": 90, new: 10}), T0, health_of(Health(40, 0, 100.0, 50.0)))
    assert waiting.event == WAITING and "waits for 100 requests" in waiting.message
    assert waiting.record == rec and waiting.traffic == {"blue": 90, new: 10}
    step2 = decide(ep(NEW, CANARY), applied(rec, {"blue": 90, new: 10}), T0 + dt.timedelta(minutes=1), health_of(GOOD))
    assert step2.event == ADVANCED and step2.traffic == {"blue": 50, new: 50} and step2.record.release.step == 1
    paused = decide(ep(NEW, CANARY), applied(step2.record), T0 + dt.timedelta(minutes=5), health_of(GOOD))
    assert paused.event == WAITING and "pause until 2026-12-02T06:11:00Z (6m left)" in paused.message
    done = decide(ep(NEW, CANARY), applied(step2.record), T0 + dt.timedelta(minutes=11), health_of(GOOD))
    assert done.event == DONE and done.traffic == {new: 100} and done.retired == ("blue",)
    assert done.nodes == {"blue": ((new, False),)} and done.record.names == {"blue": new}


def test_a_failed_gate_rolls_back_to_the_split_before_and_the_same_content_is_held_after():
    rec = _started()
    new = derived("blue", NEW["release"])
    back = decide(ep(NEW, CANARY), applied(rec, {"blue": 90, new: 10}), T0, health_of(BAD))
    assert back.event == BACK and back.failed and back.traffic == {"blue": 100}
    assert back.nodes == {"blue": (("blue", True),)} and back.retired == (new,)
    assert "success rate 92.00% < 99%" in back.message and back.record.last["result"] == "rolled back"
    held = decide(ep(NEW, CANARY), applied(back.record), T0 + dt.timedelta(hours=1), health_of(GOOD))
    assert held.event == HELD and held.nodes == {"blue": (("blue", True),)} and held.traffic == {"blue": 100}
    assert "amlctl rollout retry" in held.message
    again = decide(ep(NEW, CANARY), applied(back.record), T0, health_of(GOOD), "retry")
    assert again.event == STARTED and again.nodes["blue"] == (("blue", True), (new, False))
    other = decide(ep({"replace": "r-3", "release": "c-3"}, CANARY), applied(back.record), T0)
    assert other.event == STARTED, "new content is a new release"


def test_a_5xx_count_over_its_limit_fails_before_the_minimum_of_requests_and_unknown_health_holds():
    rec = _started()
    early = decide(ep(NEW, CANARY), applied(rec), T0, health_of(Health(20, 9, 55.0, None)))
    assert early.event == BACK and "9 HTTP 5xx > 5" in early.message

    def broken(name, since):
        raise RuntimeError("403 AuthorizationFailed")
    unknown = decide(ep(NEW, CANARY), applied(rec), T0, broken)
    assert unknown.event == WAITING and "cannot read its health (403 AuthorizationFailed)" in unknown.message
    assert unknown.record == rec and not unknown.failed


def test_abort_and_promote():
    rec = _started()
    new = derived("blue", NEW["release"])
    aborted = decide(ep(NEW, CANARY), applied(rec), T0, health_of(GOOD), "abort")
    assert aborted.traffic == {"blue": 100} and aborted.retired == (new,) and not aborted.failed
    assert aborted.record.last["result"] == "aborted"
    promoted = decide(ep(NEW, CANARY), applied(rec), T0, health_of(BAD), "promote")
    assert promoted.event == DONE and promoted.traffic == {new: 100} and promoted.retired == ("blue",)
    assert "promoted at step 1 of 2" in promoted.message


def test_a_change_during_a_release_starts_over_beside_the_same_old_deployment():
    rec = _started()
    first = derived("blue", NEW["release"])
    third = {"replace": "r-3", "release": "c-3"}
    d = decide(ep(third, CANARY), applied(rec), T0 + dt.timedelta(minutes=3), health_of(GOOD))
    assert d.event == RESTARTED and d.retired == (first,)
    assert d.nodes["blue"] == (("blue", True), (derived("blue", "c-3"), False)) and d.record.release.step == 0


def test_a_deployment_removed_during_its_release_retires_the_new_one():
    rec = _started()
    gone = Endpoint("w/online-endpoint/e/traffic", "OnlineEndpoint/e", "online", CANARY, {"green": OLD},
                    {"green": 100})
    d = decide(gone, applied(Record(digests={"green": OLD}, release=rec.release)), T0)
    assert d.record.release is None and derived("blue", NEW["release"]) in d.retired


def test_a_mirror_step_copies_traffic_to_the_new_deployment_only():
    policy = Policy.from_input({"steps": [{"mirror": 20, "pause": "5m"}]})
    d = decide(ep(NEW, policy), applied(), T0)
    new = derived("blue", NEW["release"])
    assert d.traffic == {"blue": 100, new: 0} and d.mirror == {new: 20}


def test_as_applied_keeps_the_step_and_a_batch_default_moves_at_once():
    rec = _started()
    still = decide(ep(NEW, CANARY), applied(rec), T0 + dt.timedelta(days=1), health_of(GOOD), advance=False)
    assert still.record == rec and still.traffic == {"blue": 90, derived("blue", NEW["release"]): 10}
    batch = decide(ep(NEW, CANARY, traffic={}, kind="batch", default="blue"),
                   applied(traffic={}, default="blue"), T0)
    assert batch.event == DONE and batch.default == derived("blue", NEW["release"])


def test_derived_names_fit_azure():
    name = derived("a-deployment-name-of-thirty-x", "0123456789abcdef")
    assert len(name) <= 32 and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]", name)
    assert derived("blue", "abcdef0123") == "blue-abcdef0"


@pytest.mark.parametrize("gates,health,result", [
    (Gates(success_rate=99, min_requests=100), Health(100, 0, 99.5, None), PASS),
    (Gates(success_rate=99, min_requests=100), Health(99, 0, 100.0, None), WAIT),
    (Gates(success_rate=99), Health(0, 0, None, None), WAIT),
    (Gates(success_rate=99), Health(10, 1, 90.0, None), FAIL),
    (Gates(p95_latency_ms=300), Health(10, 0, 100.0, 301.0), FAIL),
    (Gates(p95_latency_ms=300), Health(10, 0, 100.0, None), WAIT),
    (Gates(http_5xx=0), Health(3, 1, 66.0, None), FAIL),
    (Gates(), Health(0, 0, None, None), PASS),
])
def test_gates(gates, health, result):
    assert judge(gates, health).result == result


def test_durations():
    assert [seconds(x) for x in ("30s", "10m", "1h30m", "2d", None)] == [30, 600, 5400, 172800, 0]


def _graph(policy=None, prt=False):
    env = {"PRT_CONFIG_OVERRIDE": "deployment.endpoint_name=e,deployment.deployment_name=blue"} if prt else {}
    dep = Resource("w/online-endpoint/e/deployments/blue", "azure-native:machinelearningservices:OnlineDeployment",
                   {"resourceGroupName": "rg", "workspaceName": "w", "endpointName": "e", "deploymentName": "blue",
                    "properties": {"instanceType": "Standard_F4s_v2", "environmentVariables": env},
                    "sku": {"capacity": 1}, "tags": {}},
                   "OnlineDeployment/blue", depends_on=("w/online-endpoint/e",))
    step_inputs = {"endpointId": "/x/onlineEndpoints/e", "kind": "online", "traffic": {"blue": 100}}
    if policy:
        step_inputs["rolloutPolicy"] = policy
    step = Resource("w/online-endpoint/e/traffic", "amlctl:azureml:EndpointTraffic", step_inputs,
                    "OnlineEndpoint/e", depends_on=("w/online-endpoint/e", dep.name))
    other = Resource("w/flow", "x:y:Z", {"url": {"$output": {"resource": dep.name, "property": "id"}}}, "X/flow",
                     depends_on=(dep.name,))
    return Graph("s", (dep, step, other), {})


def test_the_overlay_renames_follows_references_freezes_the_old_one_and_is_deterministic():
    g = _graph({"steps": [{"canary": 10}]}, prt=True)
    digests = O.digests(g.by_name()["w/online-endpoint/e/deployments/blue"])
    old = {**digests, "release": "old", "replace": "old"}
    rec = {"w/online-endpoint/e/traffic": Applied(Record(digests={"blue": old}), {"blue": 100})}
    rolled = O.overlay(g, rec, T0)
    new = derived("blue", digests["release"])
    by = rolled.graph.by_name()
    frozen, fresh = by["w/online-endpoint/e/deployments/blue"], by[f"w/online-endpoint/e/deployments/{new}"]
    assert set(frozen.ignore_changes) == {"properties", "sku", "tags"}
    assert fresh.inputs["deploymentName"] == new and not fresh.ignore_changes
    assert fresh.inputs["properties"]["environmentVariables"]["PRT_CONFIG_OVERRIDE"].endswith(
        f"deployment.deployment_name={new}")
    step = by["w/online-endpoint/e/traffic"]
    assert step.inputs["traffic"] == {"blue": 90, new: 10} and step.inputs["rolloutState"]["release"]["step"] == 0
    assert set(step.depends_on) == {"w/online-endpoint/e", frozen.name, fresh.name}
    flow = by["w/flow"]
    assert flow.inputs["url"]["$output"]["resource"] == fresh.name and set(flow.depends_on) == {frozen.name, fresh.name}
    assert rolled.graph.to_json() == O.overlay(g, rec, T0).graph.to_json()
    assert json.loads(rolled.graph.to_json())["format"] == "amlctl.dev/graph/v1"


def test_validate_rejects_what_a_release_could_not_do(repo, tmp_path):
    from conftest import amlctl, write_tree
    from test_rollout_engine import FILES
    files = dict(FILES)
    files["manifests/endpoint.yaml"] = (
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\nname: score\n"
        "auth_mode: key\nmirror_traffic:\n  blue: 40\nrollout:\n  steps:\n    - mirror: 20\n")
    files["manifests/batch.yaml"] = ("$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json\n"
                                     "name: nightly\ndefaults:\n  deployment_name: gone\n")
    run = amlctl("validate", cwd=repo(files))
    out = run.out + run.err
    assert run.code == 1, out
    assert "manifests/endpoint.yaml:6:1: error[M004]" in out and "needs a traffic split" in out, out
    assert "manifests/endpoint.yaml:8:15: error[M005]" in out and "60% in all" in out, out
    assert "manifests/batch.yaml:4:20: error[M004]" in out and "'gone', which is not a deployment" in out, out
    files["manifests/endpoint.yaml"] = FILES["manifests/endpoint.yaml"] + "rollout:\n  steps:\n    - canary: 10\n      mirror: 5\n"
    del files["manifests/batch.yaml"]
    run = amlctl("validate", cwd=write_tree(tmp_path / "two", files))
    out = run.out + run.err
    assert run.code == 1 and "manifests/endpoint.yaml:8:7: error[S003]" in out, out
    assert "a rollout step sets either canary: PERCENT or mirror: PERCENT" in out, out
