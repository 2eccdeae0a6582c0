"""The Pulumi program: turns a rendered graph into pulumi-azure-native resource objects.

This is the only code that imports Pulumi. It decides nothing: every name, input, dependency and
option comes from the graph (controller.render). `Pulumi.yaml` runs it through __main__.py; the
controller runs `build` inline through the Automation API.

    build(graph, root) -> {graph name: pulumi resource}
"""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import pulumi

from controller.render.graph import Graph, Resource

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """The Python kwarg for a wire input name: accountName -> account_name."""
    out = _CAMEL.sub(r"_\1", name).lower()
    # Generated SDKs rename inputs that collide with the constructor's own `resource_name`.
    return "resource_name_" if out == "resource_name" else out


def resource_class(type_token: str) -> Callable[..., pulumi.CustomResource]:
    """azure-native:machinelearningservices:Compute -> pulumi_azure_native.machinelearningservices.Compute"""
    package, module, cls = type_token.split(":")
    if package == "azure-native":
        return getattr(importlib.import_module(f"pulumi_azure_native.{module}"), cls)
    if package == "amlctl":
        from controller.program import custom
        return custom.CLASSES[type_token]
    raise KeyError(f"no Pulumi class for type {type_token}")


def order(graph: Graph) -> list[Resource]:
    """Resources with each after its dependencies; ties by name, so the order is stable."""
    by_name = graph.by_name()
    done: set[str] = set()
    out: list[Resource] = []
    visiting: set[str] = set()

    def visit(r: Resource) -> None:
        if r.name in done:
            return
        if r.name in visiting:
            raise ValueError(f"dependency cycle through {r.name}")
        visiting.add(r.name)
        for d in sorted(set(r.depends_on) | _output_refs(r.inputs)):
            visit(by_name[d])
        visiting.discard(r.name)
        done.add(r.name)
        out.append(r)

    for r in graph.resources:
        visit(r)
    return out


def _output_refs(value: Any) -> set[str]:
    from controller.render.graph import markers
    return {body["resource"] for _, kind, body in markers(value) if kind == "$output"}


class Resolver:
    """Turns graph markers into Pulumi values: outputs of other resources, secrets, file assets, JSON text."""

    def __init__(self, root: Path, created: Mapping[str, pulumi.Resource], config: Callable[[str], pulumi.Config],
                 client_config: Callable[[str], Any] | None = None,
                 secret_reader: Callable[[str], str] | None = None,
                 latest_reader: Callable[[Mapping[str, str]], Any] | None = None):
        self.root = root
        self._read_latest = latest_reader
        self.created = created
        self.config = config
        self._client: Any = None
        self._client_override = client_config
        self._read_secret = secret_reader
        self._secrets: dict[str, pulumi.Output] = {}  # one Key Vault read per URI and run

    def value(self, v: Any) -> Any:
        if isinstance(v, dict):
            if len(v) == 1:
                (k, body), = v.items()
                if k == "$output":
                    return self._output(body["resource"], body["property"])
                if k == "$secret":
                    return self._secret(body)
                if k == "$asset":
                    return pulumi.FileAsset(str(self.root / body["path"]))
                if k == "$clientConfig":
                    return self._client_config(body)
                if k == "$latest":
                    return self._latest(body)
                if k == "$json":
                    # A property Azure takes as JSON text (a distillation job's teacher connection),
                    # serialised once its values, secrets among them, are known: secret in, secret out.
                    return pulumi.Output.from_input(self.value(body)).apply(json.dumps)
            return {key: self.value(x) for key, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v

    def _output(self, name: str, prop: str) -> pulumi.Output:
        head, *rest = prop.split(".")
        out = getattr(self.created[name], snake(head))
        return pulumi.Output.from_input(out).apply(lambda value: _dig(value, rest))

    def _secret(self, body: Mapping[str, str]) -> pulumi.Output:
        if "config" in body:
            namespace, _, key = body["config"].rpartition(":")
            return self.config(namespace or pulumi.get_project()).require_secret(key)
        uri = body["keyVault"]
        if uri not in self._secrets:
            if self._read_secret is None:
                from controller.program.keyvault import read
                self._read_secret = read
            self._secrets[uri] = pulumi.Output.secret(self._read_secret(uri))
        return self._secrets[uri]

    def _latest(self, body: Mapping[str, str]) -> Any:
        """The ARM id of an asset's latest version, from its container's `latestVersion` (what
        azure-ai-ml's `@latest` resolves to, read when the stack deploys)."""
        if self._read_latest is not None:
            return self._read_latest(body)
        from pulumi_azure_native import machinelearningservices as ml
        parts = body["container"].strip("/").split("/")
        get = {"Model": ml.get_model_container_output, "Environment": ml.get_environment_container_output,
               "Data": ml.get_data_container_output, "Component": ml.get_component_container_output}[body["kind"]]
        found = get(name=parts[-1], resource_group_name=parts[3], workspace_name=parts[7])
        return found.properties.apply(lambda p: f"{body['container']}/versions/{p.latest_version}")

    def _client_config(self, field: str) -> Any:
        if self._client_override is not None:
            return self._client_override(field)
        if self._client is None:
            from pulumi_azure_native import authorization
            self._client = authorization.get_client_config_output()
        return getattr(self._client, snake(field))


def _dig(value: Any, path: list[str]) -> Any:
    for part in path:
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(part, value.get(snake(part)))
        else:
            value = getattr(value, snake(part), None)
    return value


def build(graph: Graph, root: Path, *, classes: Callable[[str], Callable[..., Any]] = resource_class,
          provider: pulumi.ProviderResource | None = None,
          client_config: Callable[[str], Any] | None = None,
          secret_reader: Callable[[str], str] | None = None,
          latest_reader: Callable[[Mapping[str, str]], Any] | None = None) -> dict[str, pulumi.Resource]:
    """Register every resource of the graph. `classes` maps a type token to the class to construct
    (the local simulation target swaps in its own); `provider` is the explicit provider to use;
    `client_config` answers {"$clientConfig": ...} markers (default: ask Azure who deploys);
    `secret_reader` reads a Key Vault secret URI's value (default: Key Vault's data plane);
    `latest_reader` answers {"$latest": ...} markers (default: the container's latestVersion)."""
    from controller.plan.immutable import engine_replace_paths
    from controller.runs import runs_of
    if runs_of(graph):  # a renderer's graph, not the one controller.runs settles for the engine
        raise ValueError("the graph still holds run outputs ($runOutput): settle it first (controller.runs.settle)")
    created: dict[str, pulumi.Resource] = {}
    resolver = Resolver(root, created, lambda ns: pulumi.Config(ns), client_config, secret_reader, latest_reader)
    for r in order(graph):
        cls = classes(r.type)
        kwargs = {snake(k): resolver.value(v) for k, v in sorted(r.inputs.items())}
        replace = engine_replace_paths(r.type)
        opts = pulumi.ResourceOptions(
            depends_on=[created[d] for d in r.depends_on],
            protect=r.protect,
            # amlctl's names are fixed, so a replacement reuses the ARM id: it must delete first, or
            # the create would PUT over the old resource and the delete then remove it. The provider
            # asks for that on its own replacements only, not on the ones replace_on_changes adds.
            replace_on_changes=list(replace) or None,
            delete_before_replace=True if replace else None,
            retain_on_delete=r.retain_on_delete or None,
            ignore_changes=list(r.ignore_changes) or None,
            provider=provider if provider is not None and r.type.startswith("azure-native:") else None,
        )
        created[r.name] = cls(r.name, opts=opts, **kwargs)
    return created


def azure_provider(graph: Graph) -> pulumi.ProviderResource:
    """The azure-native provider pinned to the stack's subscription and location."""
    import pulumi_azure_native as azure_native
    settings = graph.settings
    return azure_native.Provider("azure-native", subscription_id=settings.get("subscriptionId"),
                                 location=settings.get("location"))
