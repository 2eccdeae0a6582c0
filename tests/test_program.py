"""The Pulumi program under Pulumi's own mocks (`pulumi.runtime.set_mocks`): the real program over the
example estate, for both stacks. Every resource is a real pulumi-azure-native class constructed with
valid arguments (a wrong keyword is a TypeError at construction), every dependency points into
the graph, and names, inputs and tags reach the engine as rendered.

Each stack runs in its own process: the Pulumi runtime's mock state is process-global.
"""
from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from conftest import REPO

RUNNER = r'''
import json, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
import pulumi

calls, seen = [], []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        seen.append({{"type": args.typ, "name": args.name, "inputs": args.inputs}})
        state = dict(args.inputs)
        state["identity"] = {{"principalId": "principal-of-" + args.name, "type": "SystemAssigned"}}
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":  # its ids are outputs, as in Azure
            state["principalId"] = state["clientId"] = "principal-of-" + args.name
        return args.name + "-id", state
    def call(self, args):
        calls.append(args.token)
        return {{"tenantId": "tenant-0000", "clientId": "c", "objectId": "o", "subscriptionId": "s"}}

pulumi.runtime.set_mocks(Mocks(), project="amlctl-estate", stack={stack!r}, preview=False)
pulumi.runtime.set_all_config({{"amlctl:openaiKey": "s3cr3t-value"}}, ["amlctl:openaiKey"])

from controller.revisions import render_stack
from controller.program import build, azure_provider

from controller import runs

side = render_stack(Path({repo!r}), {stack!r}, commits={{}})
assert side.graph is not None, [d.format() for d in side.diagnostics]
# As apply hands it over once the fine-tuning run has completed (controller.runs).
done = {{run: runs.Outcome(runs.COMPLETED, "1", "workspace-guid") for run in runs.runs_of(side.graph)}}
graph = runs.settle(side.graph, done, None).graph

@pulumi.runtime.test
def run():
    created = build(graph, Path({repo!r}), provider=azure_provider(graph))
    return pulumi.Output.all(*[r.urn for r in created.values()])

run()
print(json.dumps({{"graph": graph.to_dict(), "seen": seen, "calls": calls}}, default=str))
'''


def _run(stack: str) -> dict:
    p = subprocess.run([sys.executable, "-c", RUNNER.format(repo=str(REPO), stack=stack)], capture_output=True,
                       text=True, timeout=600, cwd=REPO)
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=["dev", "prod"])
def registered(request):
    return request.param, _run(request.param)


def _resolved(value, seen_by_name):
    """Graph inputs with markers replaced by what the mocks make of them."""
    if isinstance(value, dict):
        if len(value) == 1:
            (k, body), = value.items()
            if k == "$output":
                return f"principal-of-{body['resource']}"
            if k == "$secret":
                return "s3cr3t-value"
            if k == "$clientConfig":
                return "tenant-0000"
            if k == "$asset":
                return None  # assets travel as archives, compared separately
        return {key: _resolved(v, seen_by_name) for key, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, seen_by_name) for v in value]
    return value


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value on the wire


def _unsecret(value):
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return _unsecret(value["value"])
        return {k: _unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsecret(v) for v in value]
    return value


def _normal(value):
    """The mock monitor turns ints into floats; compare numbers as numbers."""
    return json.loads(json.dumps(_unsecret(value)), parse_int=float)


def test_every_graph_resource_is_registered_with_its_type_and_name(registered):
    stack, data = registered
    graph = {r["name"]: r for r in data["graph"]["resources"]}
    seen = {s["name"]: s for s in data["seen"] if s["name"] != "azure-native"}
    assert set(seen) == set(graph)
    for name, r in graph.items():
        expected = "pulumi-python:dynamic:Resource" if r["type"].startswith("amlctl:") else r["type"]
        assert seen[name]["type"] == expected, name


def test_inputs_reach_the_engine_as_rendered(registered):
    stack, data = registered
    seen = {s["name"]: s for s in data["seen"]}
    for r in data["graph"]["resources"]:
        if r["type"].startswith("amlctl:"):
            continue
        want = _normal(_resolved(r["inputs"], seen))
        got = _normal(seen[r["name"]]["inputs"])
        for key, value in want.items():
            if value is None:
                continue
            assert got.get(key) == value, f"{r['name']}.{key}"


def test_dependencies_point_into_the_graph(registered):
    stack, data = registered
    names = {r["name"] for r in data["graph"]["resources"]}
    for r in data["graph"]["resources"]:
        assert set(r["depends_on"]) <= names, r["name"]


def test_secret_comes_from_config_and_reaches_the_engine_as_a_pulumi_secret(registered):
    stack, data = registered
    text = json.dumps(data["graph"])
    assert "s3cr3t-value" not in text
    assert '"$secret": {"config": "amlctl:openaiKey"}' in text
    seen = {s["name"]: s for s in data["seen"]}
    props = seen["mlw-credit/connection/aoai-explainer"]["inputs"]["properties"]
    assert props.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270"  # wrapped: the engine encrypts it
    assert props["value"]["credentials"]["key"] == "s3cr3t-value"


def test_tags_and_protection(registered):
    stack, data = registered
    for r in data["graph"]["resources"]:
        if "tags" in r["inputs"] and r["type"] != "azure-native:resources:ResourceGroup":
            assert r["inputs"]["tags"]["managed-by"] == "amlctl", r["name"]
            assert r["inputs"]["tags"]["amlctl-manifest"].startswith("manifests/"), r["name"]
    protected = {r["type"].rsplit(":", 1)[1] for r in data["graph"]["resources"] if r["protect"]}
    if stack == "prod":
        assert {"Workspace", "StorageAccount", "Vault", "Registry"} <= protected
    else:
        assert protected == set()


def test_role_assignment_principal_is_the_endpoint_identity(registered):
    stack, data = registered
    seen = [s for s in data["seen"] if s["type"] == "azure-native:authorization:RoleAssignment"]
    endpoint_ids = [s for s in seen if s["inputs"]["principalId"] == "principal-of-mlw-credit/online-endpoint/credit-online"]
    assert endpoint_ids, "the endpoint identity gets roles"


def test_every_top_level_input_is_a_keyword_of_the_class():
    from controller.program import resource_class, snake
    from controller.revisions import render_stack
    side = render_stack(REPO, "prod", commits={})
    assert side.graph is not None
    for r in side.graph.resources:
        if r.type.startswith("amlctl:"):
            continue
        params = inspect.signature(resource_class(r.type)._internal_init).parameters
        for key in r.inputs:
            assert snake(key) in params, f"{r.type}: {key}"


def test_replace_rules_reach_the_engine_with_delete_first(tmp_path):
    """What Azure cannot change in place (controller/plan/immutable.py) is passed to the engine as
    replace_on_changes, with delete_before_replace: amlctl's names are fixed, so create-before-delete
    would PUT over the live resource and then delete it. Asset versions get none (append-only)."""
    from controller.program import build
    from controller.render.graph import Graph, Resource

    ml = "azure-native:machinelearningservices:"
    graph = Graph(stack="t", resources=(
        Resource(name="cluster", type=ml + "Compute", subject="Compute/c",
                 inputs={"computeName": "c", "properties": {"computeType": "AmlCompute"}}),
        Resource(name="host", type=ml + "CapabilityHost", subject="CapabilityHost/h", inputs={"name": "h"}),
        Resource(name="model@1", type=ml + "ModelVersion", subject="Model/m", inputs={"name": "m"}),
    ))
    seen = {}

    def recording(type_):
        def make(resource_name, opts=None, **kwargs):
            seen[resource_name] = opts
            return object()
        return make

    build(graph, tmp_path, classes=recording)
    compute = seen["cluster"]
    assert "properties.properties.vmSize" in compute.replace_on_changes
    assert "properties.properties.subnet" in compute.replace_on_changes  # ".*" dropped: a path covers below
    assert compute.delete_before_replace is True
    assert seen["host"].replace_on_changes == ["properties"] and seen["host"].delete_before_replace is True
    assert seen["model@1"].replace_on_changes is None and seen["model@1"].delete_before_replace is None
