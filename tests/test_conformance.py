"""Provider conformance: every rendered resource holds against pulumi-azure-native's own input types.

pulumi-azure-native drops, without a word, any input its schema does not type: a property rendered
under the wrong name, at the wrong depth or in the wrong shape never reaches Azure. The checker,
../shared/tools/conformance.py (its docstring says what it checks), reads the SDK's generated input
classes at every depth; this test runs it over the example estate's stacks and over every corpus file
that renders (each in a synthetic workspace, as tests/fidelity.py and tests/corpus_render.py render
them), and asserts zero errors. Run it directly for the release note's figures:

    .venv/bin/python tests/test_conformance.py

Markers the checker does not know are replaced by what the engine sees first (see controller.render.graph):
  - {"$runOutput": ...} is settled by controller.runs as apply does once each run has completed
    (version 1), so the SETTLED graph is checked: that is the one the Pulumi program receives;
  - {"$latest": ...} becomes "<container>/versions/1", the string the program reads at deploy time;
  - {"$json": VALUE} becomes VALUE's JSON text, as the program sends it.
A compute instance goes through the generic `azure-native:resources:Resource` (its body is Any to
the SDK): its `properties` are checked against the typed Compute's, less the settings that are the
reason for the route (controller/render/kinds/compute.py).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECKER = REPO.parent / "shared" / "tools" / "conformance.py"
STACKS = ("dev", "prod", "local")
ML = "azure-native:machinelearningservices:"
GENERIC = "azure-native:resources:Resource"

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))

pytestmark = pytest.mark.skipif(not CHECKER.exists(), reason="../shared/tools/conformance.py is not beside the repository")


@lru_cache(maxsize=1)
def checker() -> Any:
    spec = importlib.util.spec_from_file_location("amlctl_conformance", CHECKER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


# -- the graphs, as the engine receives them ----------------------------------------------------------
def settled(graph: Any) -> dict[str, Any]:
    """The graph's JSON once controller.runs has settled it, with deploy-time markers as their values."""
    from controller import runs
    done = {run: runs.Outcome(runs.COMPLETED, "1", "00000000-0000-0000-0000-0000000000f1") for run in runs.runs_of(graph)}
    data = json.loads(runs.settle(graph, done, None).graph.to_json())
    data["resources"] = [{**r, "inputs": _resolved(r["inputs"])} for r in data["resources"]]
    return data


def _resolved(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            (key, body), = value.items()
            if key == "$latest":
                return f"{body['container']}/versions/1"
            if key == "$json":
                return json.dumps(_resolved(body))
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return value


def estate_graphs() -> dict[str, dict[str, Any]]:
    """{stack: graph} of the example estate, rendered as `amlctl render --stack S` renders it."""
    from controller.revisions import render_stacks
    sides = render_stacks(REPO, list(STACKS))
    return {s: settled(sides[s].graph) for s in STACKS}


def corpus_graphs() -> dict[str, dict[str, Any]]:
    """{corpus path: graph} of every corpus file of a kind amlctl supports that renders on its own."""
    import fidelity as F
    from corpus_check import companions, supported_rows
    from corpus_render import ENDPOINT, _endpoint

    from controller import schemas as S
    from controller.manifests.loader import load_files
    from controller.render import render
    if not F.CORPUS.exists():
        return {}
    schemas = S.load()
    out = {}
    for row, kind in supported_rows():
        path = row["path"]
        hint = kind if row["schema_kind"].startswith("inferred:") else None
        loaded = load_files([(F.CORPUS / path, f"{F.CORPUS.name}/{path}")], hint, schemas)
        if any(d.severity.value == "error" for d in loaded.diagnostics) or not loaded.manifests:
            continue  # validate rejects it (tests/corpus/known-differences.yaml says why)
        beside = []  # what the file refers to and must be in the estate (corpus_check.COMPANIONS)
        for other in companions(path, kind, for_render=True):
            beside += load_files([(F.CORPUS / other, f"{F.CORPUS.name}/{other}")], None, schemas).manifests
        manifests = [F._in_workspace(m) for m in loaded.manifests + beside] + F._fidelity_workspace(schemas)
        for i, m in enumerate(manifests):
            if m.kind in ENDPOINT and "endpoint_name" not in m.spec:  # az ml takes it on the command line
                manifests[i] = replace(m, spec={**m.spec, "endpoint_name": "ep-corpus"})
                manifests.append(_endpoint(ENDPOINT[m.kind], schemas))
        rendered = render(manifests, F._stack(), root=F.CORPUS.parent, schemas=schemas, allow_missing_files=True)
        if rendered.graph is not None and not any(d.severity.value == "error" for d in rendered.diagnostics):
            out[path] = settled(rendered.graph)
    return out


# -- the check ------------------------------------------------------------------------------------------
# What the generic route carries beyond the typed Compute's schema: the reason it is taken.
INSTANCE_ONLY = ("enableRootAccess", "enableOSPatching", "releaseQuotaOnStop")


def as_typed_compute(r: dict[str, Any]) -> dict[str, Any] | None:
    """A compute instance rendered as the generic resource, as the typed Compute would take it
    without the settings only the generic route carries; None for any other resource."""
    i = r["inputs"]
    if r["type"] != GENERIC or i.get("resourceType") != "computes":
        return None
    props = json.loads(json.dumps(i.get("properties", {})))
    for key in INSTANCE_ONLY:
        (props.get("properties") or {}).pop(key, None)
    typed = {"resourceGroupName": i["resourceGroupName"], "workspaceName": i["parentResourcePath"].split("/")[-1],
             "computeName": i["resourceName"], "location": i.get("location"), "properties": props, "tags": i.get("tags")}
    if "identity" in i:
        typed["identity"] = {**i["identity"], "type": i["identity"]["type"].replace(", ", ",")}
    return {**r, "type": ML + "Compute", "inputs": typed}


# A data import schedule's action (ImportData), which the typed Schedule has no member for: the reason
# its route is the generic resource (controller/render/kinds/dataimport.py). The rest of its body is
# checked against the typed Schedule's, with a minimal typed action standing in.
STAND_IN_ACTION = {"actionType": "CreateJob", "jobDefinition": {"jobType": "Pipeline"}}


def as_typed_schedule(r: dict[str, Any]) -> dict[str, Any] | None:
    """A schedule rendered as the generic resource, as the typed Schedule would take it without the
    action only the generic route carries; None for any other resource."""
    i = r["inputs"]
    if r["type"] != GENERIC or i.get("resourceType") != "schedules":
        return None
    props = {**json.loads(json.dumps(i.get("properties", {}))), "action": STAND_IN_ACTION}
    typed = {"resourceGroupName": i["resourceGroupName"], "workspaceName": i["parentResourcePath"].split("/")[-1],
             "name": i["resourceName"], "properties": props}
    return {**r, "type": ML + "Schedule", "inputs": typed}


def check(graphs: dict[str, dict[str, Any]]) -> tuple[int, int, list[str], list[str]]:
    """(conforming, total, errors, warnings) over the graphs' azure-native resources, each resource
    identical to one already checked counted once (every corpus graph holds the same workspace)."""
    c = checker()
    sdk = c.SDK()
    seen: set = set()
    conform = total = 0
    errors: list[str] = []
    warnings: list[str] = []
    for label, graph in graphs.items():
        names = {r["name"]: r for r in graph["resources"]}
        for r in sorted(graph["resources"], key=lambda r: r["name"]):
            key = (r["type"], r["name"], json.dumps(r["inputs"], sort_keys=True))
            if key in seen or not r["type"].startswith("azure-native:"):
                continue
            seen.add(key)
            total += 1
            problems = c.check_resource(c.Ctx(sdk, names), r)
            typed = as_typed_compute(r) or as_typed_schedule(r)
            if typed is not None:
                problems += c.check_resource(c.Ctx(sdk, names), typed)
            lines = [(p.severity, f"{label}: {r['name']} {c.fmt(p.path)}: {p.message} [{c.origin_of(r, p.path)}]")
                     for p in problems]
            errors += [line for sev, line in lines if sev == "error"]
            warnings += [line for sev, line in lines if sev != "error"]
            conform += not any(sev == "error" for sev, _ in lines)
    return conform, total, errors, warnings


# -- tests ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def estate():
    return estate_graphs()


@pytest.fixture(scope="module")
def corpus():
    graphs = corpus_graphs()
    if not graphs:
        pytest.skip("../shared/corpus is not beside the repository")
    return graphs


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_of_the_example_stack_conforms(estate, stack):
    conform, total, errors, warnings = check({stack: estate[stack]})
    assert errors == []
    assert warnings == []  # an enum in another case than the SDK's included
    assert conform == total > 50


def test_every_resource_the_corpus_renders_conforms(corpus):
    conform, total, errors, warnings = check(corpus)
    assert errors == []
    assert warnings == []
    assert len(corpus) > 300 and conform == total > 500


def test_compute_instance_settings_reach_azure(estate):
    """What the typed Compute would drop goes through the generic resource, at an API version
    that has it, beside everything the typed one carries."""
    [ci] = [r for r in estate["prod"]["resources"] if r["name"] == "mlw-credit/compute/ci-risk-dev"]
    assert ci["type"] == GENERIC
    assert ci["inputs"]["resourceType"] == "computes" and ci["inputs"]["apiVersion"] == "2025-01-01-preview"
    props = ci["inputs"]["properties"]["properties"]
    assert {k: props[k] for k in INSTANCE_ONLY} == {"enableRootAccess": True, "enableOSPatching": False,
                                                     "releaseQuotaOnStop": False}
    [schedule] = props["schedules"]["computeStartStop"]
    assert schedule == {"action": "Stop", "status": "Enabled", "triggerType": "Cron",
                        "cron": {"expression": "0 19 * * 1-5", "timeZone": "W. Europe Standard Time"}}


def test_the_check_catches_what_the_provider_would_drop(estate):
    """The test is only as good as its checker: a property the SDK does not type, at any depth of a
    generic compute instance's body too, is an error."""
    graph = json.loads(json.dumps(estate["prod"]))
    ci = next(r for r in graph["resources"] if r["name"] == "mlw-credit/compute/ci-risk-dev")
    ci["inputs"]["properties"]["properties"]["schedules"]["computeStartStop"][0]["cron"]["triggerType"] = "Cron"
    _, _, errors, _ = check({"prod": graph})
    assert any("unknown property 'triggerType' of CronArgs" in e for e in errors)


def main() -> int:
    estate = estate_graphs()
    failed = 0
    for stack in STACKS:
        conform, total, errors, warnings = check({stack: estate[stack]})
        print(f"stack {stack}: conformance: {conform}/{total} resources conform "
              f"({len(errors)} errors, {len(warnings)} warnings)")
        failed += len(errors)
        for line in errors + warnings:
            print(f"    {line}")
    conform, total, errors, warnings = check(estate)
    print(f"example estate (dev, prod, local; a resource identical across stacks counted once): conformance: "
          f"{conform}/{total} resources conform ({len(errors)} errors, {len(warnings)} warnings)")
    corpus = corpus_graphs()
    conform, total, errors, warnings = check(corpus)
    print(f"corpus ({len(corpus)} files that render, each in a synthetic workspace; a resource identical "
          f"across files counted once): conformance: {conform}/{total} resources conform "
          f"({len(errors)} errors, {len(warnings)} warnings)")
    for line in errors + warnings:
        print(f"    {line}")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
