"""Fidelity of the asset kinds (Datastore, Data, Environment, Model, Component) against
azure-ai-ml's `_to_rest_object()`. Read by tests/fidelity.py.

A versioned asset's REST body is its version's: `main` picks the manifest's version resource
(`<workspace>/<kind>/<name>@<version>`), not its container. A Component's body also carries the
component's name at the top level.

Inside a componentSpec amlctl writes references as `azureml:<ARM id>`, as azure-ai-ml sends them
once MLClient has resolved them; `_to_rest_object()` still holds the unresolved
`azureml:<name>:<version>`. `back` strips the `azureml:` prefix from ARM ids so that the harness's
usual rule (an ARM id equals the `azureml:name:version` it resolves) applies.


Differences that neither the example estate nor the corpus shows (so known-assets.yaml, which
lists only differences that occur, cannot hold them), found on hand-written manifests:
- properties.osType of an Environment: amlctl writes ARM's enum spelling ('Linux', 'Windows', as
  pulumi-azure-native's OperatingSystemType has it); azure-ai-ml passes the CLI's 'linux' through.
- properties.properties of a Data version: azure-ai-ml's data YAML schema reads `properties` as
  dump-only and sends an empty map; amlctl sends the manifest's properties (ARM takes them).
- properties.build.contextUri of an Environment with a local build context: amlctl uploads it and
  writes its https blob URL (with the trailing '/' azure-ai-ml writes after its own upload);
  azure-ai-ml's `_to_rest_object()` still holds the local path.

Datastore secrets: amlctl renders {"$secret": {"config": K}} where azure-ai-ml would carry the
value, and azure-ai-ml wants a string there: the loader gives azure-ai-ml a placeholder naming the
reference and `back` turns amlctl's marker into the same placeholder, so equal means the secret
lands where azure-ai-ml puts it.

azure-ai-ml refuses to load a component whose local `code` folder is missing (the corpus ships
no code): the loader then points `code` at an empty temporary folder. amlctl's code value is an
uploaded code asset either way (listed in known-assets.yaml), and nothing else in the spec
depends on the folder's content.
"""
from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fidelity as F  # noqa: E402
from controller.checks import refs  # noqa: E402
from controller.manifests.model import Manifest  # noqa: E402
from controller.render.context import resource_name  # noqa: E402
from controller.render.graph import Resource  # noqa: E402


def _rest(entity: Any, m: Manifest) -> Any:
    """The REST body as plain JSON: azure-ai-ml's models may still hold local paths (PosixPath)
    and entities (an inline environment) where MLClient would put ids; they compare as text."""
    model = entity._to_rest_object()
    body = model.serialize() if hasattr(model, "serialize") else model.as_dict()
    return json.loads(json.dumps(body, default=str))


def _version(m: Manifest, graph: dict[str, Resource]) -> Resource | None:
    if m.version is not None and resource_name(m, m.version) in graph:  # one of several versions
        return graph[resource_name(m, m.version)]
    prefix = resource_name(m) + "@"
    found = sorted(name for name in graph if name.startswith(prefix))
    return graph[found[0]] if found else None


def _asset(r: Resource) -> dict[str, Any]:
    return {"properties": r.inputs["properties"]}




def _datastore(r: Resource) -> dict[str, Any]:
    return {"properties": F.secrets_to_placeholders(r.inputs["properties"])}


def _strip_azureml(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("azureml:/subscriptions/"):
        return value[len("azureml:"):]
    return value


def _component(r: Resource) -> dict[str, Any]:
    properties = dict(r.inputs["properties"])
    spec = dict(properties.get("componentSpec", {}))
    for key in ("code", "environment"):
        if key in spec:
            spec[key] = _strip_azureml(spec[key])
    env = spec.get("environment")
    if isinstance(env, str) and "/environments/CliV2AnonymousEnvironment/versions/" in env:
        # An inline environment, registered anonymously: azure-ai-ml's body still holds the inline
        # definition with the name and version MLClient registers it under; compare those.
        name, _, version = env.rsplit("/", 3)[-3:]
        spec["environment"] = {"name": "CliV2AnonymousEnvironment", "version": version}
    properties["componentSpec"] = spec
    return {"name": r.inputs["name"], "properties": properties}


_EMPTY: list[str] = []


def _empty_folder() -> str:
    if not _EMPTY:
        _EMPTY.append(tempfile.mkdtemp(prefix="amlctl-fidelity-code-"))
    return _EMPTY[0]


def _loader(name: str, code_stand_in: bool = False):
    def load(source: Any, relative_origin: str | None = None, **kwargs: Any) -> Any:
        import azure.ai.ml as aml
        data = F.secrets_to_placeholders(yaml.safe_load(source.read() if hasattr(source, "read") else source))
        code = data.get("code") if isinstance(data, dict) and code_stand_in else None
        if isinstance(code, str) and refs.local_path(code) is not None and relative_origin:
            if not (Path(relative_origin).parent / refs.local_path(code)).exists():
                data["code"] = _empty_folder()
        return getattr(aml, name)(io.StringIO(yaml.safe_dump(data, sort_keys=False)),
                                  relative_origin=relative_origin, **kwargs)
    return load


KINDS = {
    "Datastore": F.KindSpec(_loader("load_datastore"), _rest, F._main, _datastore),
    "Data": F.KindSpec(_loader("load_data"), _rest, _version, _asset),
    "Environment": F.KindSpec(_loader("load_environment"), _rest, _version, _asset),
    "Model": F.KindSpec(_loader("load_model"), _rest, _version, _asset),
    "Component": F.KindSpec(_loader("load_component", code_stand_in=True), _rest, _version, _component),
}
