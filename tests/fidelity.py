"""Fidelity against the official SDK: for every manifest azure-ai-ml can load, the ARM body amlctl
renders must match what azure-ai-ml itself sends for the same YAML (the entity's
`_to_rest_object(...)`, serialised), field by field. Intentional differences are listed, with their
reasons, in tests/fidelity/known-differences.yaml. Used by test_fidelity.py; run it directly to
print the agreement figure and every mismatch:

    .venv/bin/python tests/fidelity.py [--verbose]
"""
from __future__ import annotations

import fnmatch
import functools
import io
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller import schemas as S  # noqa: E402
from controller.manifests.loader import load_files  # noqa: E402
from controller.manifests.model import Manifest  # noqa: E402
from controller.render import render  # noqa: E402
from controller.render.context import resource_name  # noqa: E402
from controller.render.graph import Resource  # noqa: E402
from controller.stacks import Stack  # noqa: E402
from controller.validate import validate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "azureml-cli"
KNOWN = Path(__file__).resolve().parent / "fidelity" / "known-differences.yaml"  # and known-<group>.yaml
LOCATION = "westeurope"
# Workspace name -> its location, from the Workspace manifests of the estate compared: MLClient sends a
# workspace child's location from its workspace, so azure-ai-ml's side is given the same.
WORKSPACE_LOCATIONS: dict[str, str] = {}


def location_of(m: Manifest) -> str:
    return WORKSPACE_LOCATIONS.get(m.workspace or "", LOCATION)
FIDELITY_WORKSPACE = "fidelity/workspace.yaml"  # synthetic: the corpus files' workspace, never compared


# -- per kind: how azure-ai-ml loads it and builds its REST body; how ours maps back --------------
@dataclass(frozen=True)
class KindSpec:
    loader: str | Callable[..., Any]  # an azure.ai.ml load_* name, or a function taking (source, relative_origin)
    rest: Callable[[Any, Manifest], Any]  # entity -> REST model
    main: Callable[[Manifest, dict[str, Resource]], Resource | None]  # the manifest's main resource
    back: Callable[[Resource], dict[str, Any]]  # our inputs in the REST body's shape


def _main(m: Manifest, graph: dict[str, Resource]) -> Resource | None:
    return graph.get(resource_name(m))


def _wrapped(r: Resource) -> dict[str, Any]:
    """Inputs of resources whose ARM body is {location, identity, sku, kind, tags, properties}."""
    keep = ("properties", "location", "identity", "sku", "kind", "tags")
    return {k: v for k, v in r.inputs.items() if k in keep}


def _placeholder(ref: Any) -> str:
    return f"<secret {yaml.safe_dump(ref, default_flow_style=True).strip()}>"


def secrets_to_placeholders(value: Any) -> Any:
    """azure-ai-ml refuses secret references where it wants a string: both amlctl's markers
    ({"$secret": {"config": K}}) and the manifest's references ({secret_config: K}) become the same
    "<secret {secret_config: K}>", so equal means the secret lands where azure-ai-ml puts the value."""
    if isinstance(value, dict):
        if set(value) == {"$secret"}:
            body = value["$secret"]
            return _placeholder({"secret_config": body["config"]} if "config" in body
                                else {"key_vault_secret": body.get("keyVault")})
        if set(value) in ({"secret_config"}, {"key_vault_secret"}):
            return _placeholder(value)
        return {k: secrets_to_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [secrets_to_placeholders(v) for v in value]
    return value


def _plain(entity: Any, m: Manifest) -> Any:
    return entity._to_rest_object()


def _located(entity: Any, m: Manifest) -> Any:
    return entity._to_rest_object(location=location_of(m))


KINDS: dict[str, KindSpec] = {
    "Compute": KindSpec("load_compute", _plain, _main, _wrapped),
}


# Estates compared as a whole (a deployment with the model and endpoint it uses): functions that
# return Outcomes, which kinds_<group>.py may list as GROUPS; check_corpus includes them.
GROUPS: list[Callable[[], list[Any]]] = []


def _register_groups() -> None:
    """tests/fidelity/kinds_<group>.py each define KINDS for their kinds (and may define GROUPS)."""
    import importlib.util
    for path in sorted((Path(__file__).resolve().parent / "fidelity").glob("kinds_*.py")):
        spec = importlib.util.spec_from_file_location(f"fidelity_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        KINDS.update(module.KINDS)
        GROUPS.extend(getattr(module, "GROUPS", ()))


# -- the comparison --------------------------------------------------------------------------------
@dataclass
class Outcome:
    path: str
    kind: str
    name: str
    compared: int = 0
    equal: int = 0
    intentional: int = 0
    mismatches: list[str] = field(default_factory=list)
    intentional_paths: list[str] = field(default_factory=list)
    error: str | None = None  # azure-ai-ml could not load it, or amlctl could not render it


def serialise(model: Any) -> Any:
    if hasattr(model, "serialize"):
        return model.serialize()
    if hasattr(model, "as_dict"):
        return model.as_dict()
    return model


def leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict):
        if not value:
            return [(path, {})]
        out = []
        for k, v in value.items():
            out += leaves(v, path + (k,))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = []
        for i, v in enumerate(value):
            out += leaves(v, path + (i,))
        return out
    return [(path, value)]


def lookup(value: Any, path: tuple) -> Any:
    for p in path:
        if isinstance(value, dict) and p in value:
            value = value[p]
        elif isinstance(value, list) and isinstance(p, int) and p < len(value):
            value = value[p]
        else:
            return _ABSENT
    return value


_ABSENT = object()


def same(ours: Any, theirs: Any) -> bool:
    if ours == theirs:
        return True
    if isinstance(ours, dict) and set(ours) == {"$latest"} and isinstance(theirs, str):
        # `@latest` of an asset no manifest defines: azure-ai-ml sends `name@latest` for MLClient to
        # resolve when it submits; amlctl's marker is resolved when the stack deploys.
        return theirs.removeprefix("azureml:") == f"{ours['$latest']['name']}@latest"
    if isinstance(ours, str) and isinstance(theirs, str):
        # azure-ai-ml sends `azureml:name:version` (MLClient resolves it to the ARM id just before
        # the request); amlctl renders the ARM id itself.
        t = theirs[len("azureml:"):] if theirs.startswith("azureml:") else theirs
        if ours.startswith("/subscriptions/") and t.endswith("@latest") and "/" not in t:
            # `name@latest` of an asset the estate defines: MLClient asks Azure for the latest
            # version when it submits; amlctl names the estate's highest version itself.
            return f"/{t[:-len('@latest')]}/versions/" in ours
        if ours.startswith("/subscriptions/") and ":" in t and not t.startswith("/"):
            name, _, version = t.rpartition(":")
            return ours.endswith(f"/{name}/versions/{version}")
        if ours.startswith("/subscriptions/") and t and "/" not in t:
            return ours.endswith(f"/{t}")
        if t.startswith("/subscriptions/") and ours.lower() == t.lower():
            return True
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)) and not isinstance(ours, bool):
        return float(ours) == float(theirs)
    return False


def load_known() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for path in sorted(KNOWN.parent.glob("known-*.yaml")):
        out += yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return out


def intentional(known: list[dict[str, str]], kind: str, path: tuple) -> bool:
    dotted = ".".join(str(p) for p in path)
    return any(k["kind"] in (kind, "*") and fnmatch.fnmatchcase(dotted, k["field"]) for k in known)


def compare(m: Manifest, resource: Resource, spec: KindSpec, entity: Any, known: list[dict[str, str]],
            outcome: Outcome) -> None:
    theirs = serialise(spec.rest(entity, m))
    theirs = _drop_none(theirs)
    ours = spec.back(resource)
    for path, value in leaves(theirs):
        outcome.compared += 1
        mine = lookup(ours, path)
        if mine is not _ABSENT and same(mine, value):
            outcome.equal += 1
        elif intentional(known, m.kind, path):
            outcome.intentional += 1
            outcome.intentional_paths.append(".".join(map(str, path)))
        else:
            shown = "absent" if mine is _ABSENT else repr(mine)
            outcome.mismatches.append(f"{'.'.join(map(str, path))}: azure-ai-ml {value!r}, amlctl {shown}")


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


# The workspace GUID a completed run's outcome carries in the estate compared (controller.runs).
RUN_WORKSPACE_ID = "00000000-0000-0000-0000-0000000000f1"
# Where a manifest's {output_of: ...} reference lands in its resource: azure-ai-ml is given the value
# that reference takes once its run has completed (it knows no such reference).
RUN_OUTPUT_FIELDS = {"model_id": ("properties", "modelSettings", "modelId"), "model": ("properties", "model")}


def _load_entity(spec: KindSpec, m: Manifest, root: Path, resource: Resource | None = None) -> Any:
    import azure.ai.ml as aml
    # What amlctl adds to the az ml file (x-amlctl-extension: a rollout policy) is not azure-ai-ml's.
    schemas = _schemas()
    extensions = {a.path for a in S.annotations(schemas, schemas.kinds[m.kind].file, m.spec)
                  if a.key == "extension" and len(a.path) == 1}
    body = {k: v for k, v in m.spec.items() if (k,) not in extensions}
    for key, where in RUN_OUTPUT_FIELDS.items():
        if isinstance(body.get(key), dict) and "output_of" in body[key] and resource is not None:
            body[key] = lookup(resource.inputs, where)
    origin = root / m.path  # azure-ai-ml resolves relative paths against the file's folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load = getattr(aml, spec.loader) if isinstance(spec.loader, str) else spec.loader
        return load(io.StringIO(yaml.safe_dump(body, sort_keys=False)),
                                         relative_origin=str(origin))


@functools.lru_cache(maxsize=1)
def _schemas() -> S.SchemaSet:
    return S.load()


def _stack(name: str = "fidelity", **settings: Any) -> Stack:
    from controller.manifests.yamlsafe import Positions
    base = {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "rg-fidelity",
            "location": LOCATION, "defaultWorkspace": "mlw-fidelity"}
    return Stack(name, f"stacks/Pulumi.{name}.yaml", {**base, **settings}, (), Positions({}))


def check_estate() -> list[Outcome]:
    """The example estate, as its prod stack sees it (prod owns every kind, the registry included)."""
    report = validate(root=REPO, cwd=REPO, render=False)
    stack = next(s for s in report.stacks if s.name == "prod")
    manifests = report.overlaid["prod"]
    WORKSPACE_LOCATIONS.update({m.name: str(m.spec.get("location", LOCATION)) for m in manifests if m.kind == "Workspace"})
    rendered = render(manifests, stack, root=REPO)
    graph = _runs_completed(rendered.graph).by_name() if rendered.graph else {}
    return [_one(m, graph, REPO, rendered) for m in manifests if m.kind in KINDS]


def _runs_completed(graph: Any) -> Any:
    """The graph as apply deploys it once every run it waits for has completed (version 1)."""
    from controller import runs
    done = {run: runs.Outcome(runs.COMPLETED, "1", RUN_WORKSPACE_ID) for run in runs.runs_of(graph)}
    return runs.settle(graph, done, None).graph


def check_corpus() -> list[Outcome]:
    """Every corpus file of a kind azure-ai-ml loads, each rendered on its own in a synthetic workspace."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus_check import INFERRED, supported_rows
    schemas = S.load()
    out = []
    for row, kind in supported_rows():
        if kind not in KINDS:
            continue
        path = CORPUS / row["path"]
        hint = kind if row["schema_kind"].startswith("inferred:") else None
        loaded = load_files([(path, f"{CORPUS.name}/{row['path']}")], hint, schemas)
        if any(d.severity.value == "error" for d in loaded.diagnostics) or not loaded.manifests:
            continue  # amlctl rejects it (tests/corpus/known-differences.yaml says why)
        manifests = [_in_workspace(m) for m in loaded.manifests] + _fidelity_workspace(schemas)
        rendered = render(manifests, _stack(), root=CORPUS.parent, schemas=schemas, allow_missing_files=True)
        graph = rendered.graph.by_name() if rendered.graph else {}
        out += [_one(m, graph, CORPUS.parent, rendered) for m in manifests
                if m.kind in KINDS and m.path != FIDELITY_WORKSPACE]
    del INFERRED
    for group in GROUPS:
        out += group()
    return out


def _fidelity_workspace(schemas: S.SchemaSet) -> list[Manifest]:
    """A Workspace for the corpus files to live in, so that their local paths can be uploaded."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workspace.yaml"
        path.write_text("apiVersion: amlctl.dev/v1alpha1\nkind: Workspace\nmetadata: {name: mlw-fidelity}\n"
                        "spec: {location: westeurope}\n")
        return load_files([(path, FIDELITY_WORKSPACE)], None, schemas).manifests


def _in_workspace(m: Manifest) -> Manifest:
    from dataclasses import replace
    if m.workspace is None and m.kind not in ("Workspace", "Registry", "RoleAssignment"):
        return replace(m, workspace="mlw-fidelity")
    return m


def _one(m: Manifest, graph: dict[str, Resource], root: Path, rendered: Any) -> Outcome:
    return one(KINDS[m.kind], m, graph, root, rendered)


def one(spec: KindSpec, m: Manifest, graph: dict[str, Resource], root: Path, rendered: Any) -> Outcome:
    """The manifest's rendered resource against what `spec` has azure-ai-ml make of the manifest."""
    outcome = Outcome(m.path, m.kind, m.name)
    resource = spec.main(m, graph)
    if resource is None:
        errors = [d.message for d in rendered.diagnostics if d.severity.value == "error"]
        outcome.error = "amlctl: " + ("; ".join(errors[:2]) or "no resource rendered")
        return outcome
    try:
        entity = _load_entity(spec, m, root, resource)
    except Exception as e:  # azure-ai-ml refuses it: nothing to compare against
        outcome.error = "azure-ai-ml: " + str(e).strip().splitlines()[0][:200]
        return outcome
    compare(m, resource, spec, entity, load_known(), outcome)
    return outcome


def summary(outcomes: list[Outcome]) -> tuple[int, int, int]:
    compared = sum(o.compared for o in outcomes)
    equal = sum(o.equal for o in outcomes)
    intended = sum(o.intentional for o in outcomes)
    return equal, intended, compared


_register_groups()


if __name__ == "__main__":
    verbose = "--verbose" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    # Run as the module the kinds_*.py files import (`fidelity`), not as a second copy (`__main__`):
    # they read its WORKSPACE_LOCATIONS.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fidelity as this
    for label, outcomes in (("example estate", this.check_estate()), ("corpus", this.check_corpus())):
        if only:
            outcomes = [o for o in outcomes if o.kind in only]
        equal, intended, compared = summary(outcomes)
        by_kind: dict[str, list[int]] = {}
        for o in outcomes:
            k = by_kind.setdefault(o.kind, [0, 0, 0, 0, 0])
            k[0] += o.equal
            k[1] += o.intentional
            k[2] += o.compared
            k[3] += 1
            k[4] += o.error is not None
            if o.mismatches or (verbose and o.error):
                print(f"{o.path} {o.kind}/{o.name}: {o.error or ''}")
                for line in o.mismatches:
                    print(f"    {line}")
        print(f"== {label}: {equal}/{compared} fields equal ({100 * equal / max(compared, 1):.1f}%), "
              f"{intended} intentional differences, {compared - equal - intended} unexplained")
        for kind, (e, i, c, n, errs) in sorted(by_kind.items()):
            print(f"   {kind:20} {e}/{c} equal, {i} intentional; {n} manifests, {errs} not compared")
