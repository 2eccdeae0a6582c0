"""Semantic checks across manifests: names, references, traffic, local paths, secrets, roles.

Input: schema-valid Manifests. Output: Diagnostics. Which fields are references, local paths
or secrets comes from the schemas' x-amlctl annotations, never from lists in this code.
"""
from __future__ import annotations

import difflib
import os.path
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from controller import files, rbac
from controller import schemas as S
from controller.checks import dataimport, flows, refs, runs, secrets, serverless
from controller.checks import monitoring, promptflow, schedules
from controller.manifests import versions
from controller.diagnostics import Diagnostic, Severity, error, warning
from controller.manifests.discover import inside, rel
from controller.manifests.loader import read_file
from controller.manifests.model import Manifest


@dataclass(frozen=True)
class Options:
    root: Path
    strict: bool = False  # external references are errors
    skip_path_checks: bool = False  # for sparse checkouts: local paths are not looked up
    walked: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # path -> files.Refused | None


@dataclass
class Result:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    referenced_files: set[str] = field(default_factory=set)  # repository-relative, from path fields


class Index:
    """Manifests by kind and name, for resolving references. Several manifests may share a kind
    and name: versions of one asset, or one name in several workspaces."""

    def __init__(self, manifests: Iterable[Manifest]) -> None:
        self.by_name: dict[tuple[str, str], list[Manifest]] = defaultdict(list)
        self._names: dict[str, list[str]] = {}
        # Assets published into a registry (metadata.registry) are named by their registry URI only,
        # never by a workspace's short name: (kind, registry, name) -> versions.
        self.published: dict[tuple[str, str, str], list[Manifest]] = defaultdict(list)
        for m in manifests:
            if m.registry is not None:
                self.published[(m.kind, m.registry, m.name)].append(m)
                continue
            self.by_name[(m.kind, m.name)].append(m)

    def publishes(self, value: str) -> bool:
        """Whether `value` is the registry URI of an asset version (or labels/latest) the estate publishes."""
        match = refs._REGISTRY_URI.match(value.strip())
        if match is None:
            return False
        registry, collection, name, which, ver = match.groups()
        kind = {"models": "Model", "environments": "Environment", "components": "Component"}.get(collection)
        found = self.published.get((kind or "", registry, name), [])
        if which == "labels":
            return bool(found) and ver == "latest"
        return which == "versions" and versions.pick(found, ver) is not None

    def find(self, kind: str, name: str, workspace: str | None,
             version: str | None = None) -> tuple[Manifest | None, list[Manifest]]:
        """(the manifest in the same workspace, or None; every manifest of that kind and name).
        For an asset: the given version, else the highest the estate defines."""
        found = self.by_name.get((kind, name), [])
        here = [m for m in found if workspace is None or m.workspace is None or m.workspace == workspace]
        return versions.pick(here, version), found

    def names(self, kind: str) -> list[str]:
        if kind not in self._names:
            self._names[kind] = sorted({n for (k, n) in self.by_name if k == kind})
        return self._names[kind]


def check(manifests: list[Manifest], options: Options, schemas: S.SchemaSet | None = None) -> Result:
    schemas = schemas or S.load()
    result = Result()
    index = Index(manifests)
    _duplicates(manifests, result)
    for m in manifests:
        marked: set[tuple] = set()  # fields the schema marks as credentials
        annotated = S.annotations(schemas, schemas.kinds[m.kind].file, m.spec)
        in_estate = {a.path for a in annotated if a.key == "ref-in-estate"}  # only a manifest here will do
        for a in annotated:
            if a.key == "secret":
                marked.add(a.path)
                _secret(m, a, result)
            elif a.key == "path":
                _path(m, a, options, index, result)
            elif a.key == "ref":
                _reference(m, a, replace(options, strict=True) if a.path in in_estate else options, index, result,
                           a.path in in_estate)
            elif a.key == "run-output":  # {output_of: FineTuningJob/<name>, output: ...}
                runs.check(m, a.path, a.instance, lambda k, n, w: index.find(k, n, w)[0],
                           lambda p, code, msg, m=m: _emit(result, m, p, code, msg))
        _hidden_secrets(m, marked, schemas, result)
        runs.check_teacher(m, lambda k, n, w: index.find(k, n, w)[0],
                           lambda p, code, msg, m=m: _emit(result, m, p, code, msg))
        flows.check(m, options, result)
        if m.kind == "RoleAssignment":
            _role(m, result)
        if m.kind == "OnlineEndpoint":
            _traffic(m, manifests, result)
        if m.kind == "BatchEndpoint":
            _default_deployment(m, manifests, result)
    promptflow.check(manifests, options, index, result)  # a flow's connections, its endpoint identity's roles
    serverless.check(manifests, result)  # identities Azure ML does not support on serverless compute (M012)
    schedules.check(manifests, result)  # cron, recurrence, time zone, start and end of each trigger (M013, M014)
    dataimport.check(manifests, result, schemas)  # an import's connection, scheduled file, data asset (M001, M003, M009)
    monitoring.check(manifests, result)  # a monitor's deployment and the data its defaults need (M003, M015)
    return result


def _emit(result: Result, m: Manifest, path: tuple, code: str, message: str, severity: Severity = Severity.ERROR,
          at_key: bool = False) -> None:
    src = m.where(path, at_key)
    make = error if severity is Severity.ERROR else warning
    result.diagnostics.append(make(src.path, src.line, src.col, code, message, m.subject))


def _field(path: tuple) -> str:
    return S.dotted(path)


def _duplicates(manifests: list[Manifest], result: Result) -> None:
    first: dict[tuple, Manifest] = {}
    assets: dict[tuple, list[Manifest]] = defaultdict(list)
    for m in manifests:
        # Deployment names are unique per endpoint, not per workspace; asset versions per asset.
        key = m.identity + ((m.spec.get("endpoint_name"),) if m.kind in ("OnlineDeployment", "BatchDeployment") else ())
        if m.kind in versions.VERSIONED_KINDS:
            assets[m.key].append(m)
        if key in first:
            other = first[key]
            where = f" in workspace {m.workspace!r}" if m.workspace else ""
            what = f"{m.subject} version {m.version}" if m.version is not None else m.subject
            hint = ""
            if m.form == "bare" and m.name_at == () and other.name_at == ():
                hint = (f" (both take the name {m.name!r} from their file name: give each a top-level "
                        "'name:' of its own)")
            _emit(result, m, ("name",), "M001", f"{what} is defined twice{where}; the other one is at "
                  f"{other.where(('name',))}{hint}")
        else:
            first[key] = m
    for key, group in assets.items():
        unversioned = [m for m in group if m.version is None]
        if len(group) > 1 and unversioned:
            for m in unversioned:
                others = ", ".join(str(o.where(("name",))) for o in group if o is not m)
                _emit(result, m, ("name",), "M001", f"{m.subject} is defined by several manifests ({others}): "
                      "each of them is one version of the asset, so each must name its version (version: ...)")


def _secret(m: Manifest, a: S.Annotated, result: Result) -> None:
    if isinstance(a.instance, (str, int, float)) and not isinstance(a.instance, bool):
        # Never echo the value: it is a credential.
        _emit(result, m, a.path, "M007", f"{_field(a.path)} is a credential written inline: {a.value}")


def _hidden_secrets(m: Manifest, marked: set[tuple], schemas: S.SchemaSet, result: Result) -> None:
    """Credentials inside values no schema can mark (a SAS token in a URL, a password in its
    user-info, a key in a connection string or under a credential's name in a free-form mapping),
    and every Key Vault reference's URI. Never echoes a value."""
    for found in secrets.scan(m.spec, kind=m.kind):
        if found.path in marked:
            continue  # a credential field written inline: reported above
        _emit(result, m, found.path, "M007", f"{_field(found.path)}: {found.what}; take it out: "
              f"{found.hint or _secret_hint(schemas)}")
    # An envelope's labels and annotations become Azure tags, readable by anyone who can read the
    # resource: a credential there is as much in clear as in the spec.
    meta = {k: v for k, v in (("labels", m.labels), ("annotations", m.annotations)) if v}
    for found in secrets.scan(meta):
        line, col = m.positions.at(("metadata",) + tuple(found.path))
        result.diagnostics.append(error(m.path, line, col, "M007", f"metadata.{_field(found.path)}: {found.what}; "
                                        f"take it out: {_secret_hint(schemas)}", m.subject))
    for path, key, uri in secrets.references(m.spec):
        if key != "key_vault_secret":
            continue
        try:
            secrets.key_vault_secret(uri)
        except secrets.NotAKeyVaultSecret as exc:
            _emit(result, m, path + (key,), "M010", f"{_field(path + (key,))}: {exc}; a secret reference is read "
                  "with a token of the deploying identity, so it may only name a Key Vault")


def _secret_hint(schemas: S.SchemaSet) -> str:
    """How to give a credential instead: the schema's own words (common.schema.json secretValue)."""
    return schemas.documents["common.schema.json"]["$defs"]["secretValue"]["x-amlctl-secret"]


def _path(m: Manifest, a: S.Annotated, options: Options, index: Index, result: Result) -> None:
    value = a.instance
    if not isinstance(value, str):
        return
    ds = refs.datastore_of(value)
    if ds is not None:
        _resolve(m, a.path, refs.Ref("Datastore", ds), options, index, result)
        return
    value = refs.local_path(value)
    if value is None:
        return
    base = (options.root / m.path).parent
    target = (base / value)
    shown = rel(Path(os.path.normpath(target)), options.root)
    if not inside(target, options.root):
        _emit(result, m, a.path, "Y011", f"{_field(a.path)}: {value!r} leads outside the repository")
        return
    result.referenced_files.add(shown)
    if options.skip_path_checks:
        return
    if not target.exists() and not target.is_symlink():
        _emit(result, m, a.path, "M006", f"{_field(a.path)}: {value!r} does not exist (looked for {shown})")
        return
    refused = files.refusal(target, options.root, options.walked)
    if refused is not None:
        # What render would hash and upload, walked now by the same walker: a symlink out of the
        # repository, a loop, a FIFO or device, an unreadable file anywhere under the path.
        _emit(result, m, a.path, refused.code, f"{_field(a.path)}: {refused.path}: {refused.message}")
    elif a.value in ("file", "yaml") and not target.is_file():
        _emit(result, m, a.path, "M006", f"{_field(a.path)}: {value!r} is not a file")
    elif a.value == "dir" and not target.is_dir():
        _emit(result, m, a.path, "M006", f"{_field(a.path)}: {value!r} is not a folder")
    elif a.value == "yaml":
        # A YAML data file (a conda specification) is read as manifests are, by the safe loader:
        # its problems are its own, with its file and line, never a render that fails later. Its
        # text is sent to Azure as it is, so a credential in it (a pip index URL with a token in its
        # user-info) is one written inline too.
        docs, diags = read_file(target, shown)
        result.diagnostics.extend(diags)
        for doc in docs:
            for found in secrets.scan(doc.data):
                line, col = doc.positions.at(found.path)
                result.diagnostics.append(error(shown, line, col, "M007", f"{S.dotted(found.path)}: {found.what}; "
                                                f"take it out (it is sent to Azure as written)", m.subject))


def _reference(m: Manifest, a: S.Annotated, options: Options, index: Index, result: Result,
               in_estate: bool = False) -> None:
    value = a.instance
    if a.value == "manifest":
        if isinstance(value, dict):
            _manifest_ref(m, a.path, value, index, result)
        return
    if not isinstance(value, str):
        return  # an inline definition: its own annotated fields are checked where they stand
    if index.publishes(value):
        return  # an asset the estate publishes into a registry, by its registry URI
    ref = refs.parse(value, a.value)
    if ref is not None:
        _resolve(m, a.path, ref, options, index, result, in_estate)


def _resolve(m: Manifest, path: tuple, ref: refs.Ref, options: Options, index: Index, result: Result,
             in_estate: bool = False) -> None:
    severity = Severity.ERROR if options.strict else Severity.WARNING
    if ref.name is None:
        _emit(result, m, path, "M002", f"{_field(path)}: {ref.kind} {ref.external} is external (no manifest "
              "here defines it)", severity)
        return
    if ref.kind == "Datastore" and ref.name in refs.builtin_datastores():
        return
    target, same_name = index.find(ref.kind, ref.name, m.workspace)
    if target is None and same_name:
        where = ", ".join(sorted({str(o.workspace) for o in same_name}))
        _emit(result, m, path, "M009", f"{_field(path)}: {ref.kind}/{ref.name} is defined in workspace {where}, "
              f"not in {m.workspace!r}")
        return
    if target is None:
        hint = difflib.get_close_matches(ref.name, index.names(ref.kind), n=1)
        hint_text = f" (did you mean {hint[0]!r}?)" if hint else ""
        must = "amlctl needs it as a manifest here" if in_estate else "it must exist in Azure already"
        _emit(result, m, path, "M002", f"{_field(path)}: {ref.kind} {ref.name!r} is not defined by any manifest "
              f"here{hint_text}; {must}", severity)
        return
    if ref.version is not None and ref.kind in versions.VERSIONED_KINDS:
        exact, _ = index.find(ref.kind, ref.name, m.workspace, ref.version)
        if exact is not None and exact.version is None and not versions.DERIVED.fullmatch(ref.version):
            # The manifest derives its version from its content (v + hash): `:1` is another version,
            # one that must be in Azure already, and render points at it, not at the manifest's.
            _emit(result, m, path, "M002", f"{_field(path)}: {ref.kind} {ref.name!r} derives its version from its "
                  f"content ({exact.where(('name',))}), so version {ref.version} is not the one it registers; it "
                  f"must exist in Azure already. Write azureml:{ref.name}@latest (or no version) for the estate's",
                  severity)
            return
        if exact is None:
            defined = sorted({o.version for o in same_name if o.version is not None}, key=versions.order_key)
            shown = ", ".join(defined) if defined else f"one derived from its content ({target.where(('name',))})"
            _emit(result, m, path, "M002", f"{_field(path)}: {ref.kind} {ref.name!r} version {ref.version} is not "
                  f"one the estate defines (versions here: {shown}); it must exist in Azure already", severity)


def _manifest_ref(m: Manifest, path: tuple, value: dict[str, Any], index: Index, result: Result) -> None:
    kind, name = value.get("kind"), value.get("name")
    workspace = value.get("workspace", m.workspace)
    target, _ = index.find(kind, name, workspace)
    if target is None:
        known = index.names(kind)
        hint = difflib.get_close_matches(str(name), known, n=1)
        hint_text = f" (did you mean {hint[0]!r}?)" if hint else ""
        _emit(result, m, path, "M003", f"{_field(path)}: no {kind} manifest named {name!r}{hint_text}; a "
              "reference by kind and name must resolve inside the estate (use an ARM id for anything else)")


def _role(m: Manifest, result: Result) -> None:
    role = m.spec.get("role")
    if isinstance(role, str) and rbac.role_definition_guid(role) is None:
        hint = difflib.get_close_matches(role, list(rbac.BUILTIN_ROLES), n=1, cutoff=0.5)
        hint_text = f" (did you mean {hint[0]!r}?)" if hint else ""
        _emit(result, m, ("role",), "M008", f"role {role!r} is not a built-in role amlctl knows, a role-definition "
              f"GUID or a role-definition ARM id{hint_text}")


def _default_deployment(endpoint: Manifest, manifests: list[Manifest], result: Result) -> None:
    """A batch endpoint's default must be one of its deployments: removing the default deployment
    while the endpoint still names it is an error, as removing one an online endpoint's traffic names."""
    name = (endpoint.spec.get("defaults") or {}).get("deployment_name")
    if not isinstance(name, str):
        return
    deployments = sorted(d.name for d in manifests
                         if d.kind == "BatchDeployment" and d.spec.get("endpoint_name") == endpoint.name
                         and (d.workspace == endpoint.workspace or None in (d.workspace, endpoint.workspace)))
    if name not in deployments:
        _emit(result, endpoint, ("defaults", "deployment_name"), "M004", f"defaults.deployment_name names "
              f"{name!r}, which is not a deployment of this endpoint (its deployments: {', '.join(deployments) or 'none'})")


def _traffic(endpoint: Manifest, manifests: list[Manifest], result: Result) -> None:
    deployments = sorted(d.name for d in manifests
                         if d.kind == "OnlineDeployment" and d.spec.get("endpoint_name") == endpoint.name
                         and (d.workspace == endpoint.workspace or None in (d.workspace, endpoint.workspace)))
    known = ", ".join(deployments) or "none"
    traffic = endpoint.spec.get("traffic") or {}
    mirror = endpoint.spec.get("mirror_traffic") or {}
    for name in traffic:
        if name not in deployments:
            _emit(result, endpoint, ("traffic", name), "M004", f"traffic names deployment {name!r}, which is not a "
                  f"deployment of this endpoint (its deployments: {known})", at_key=True)
    total = sum(v for v in traffic.values() if isinstance(v, (int, float)))
    if traffic and total not in (0, 100):
        _emit(result, endpoint, ("traffic",), "M004", f"traffic adds up to {total}%; it must be 100% (or 0% to "
              "send no live traffic)")
    for name, pct in mirror.items():
        if name not in deployments:
            _emit(result, endpoint, ("mirror_traffic", name), "M005", f"mirror_traffic names deployment {name!r}, "
                  f"which is not a deployment of this endpoint (its deployments: {known})", at_key=True)
        elif traffic.get(name, 0):
            _emit(result, endpoint, ("mirror_traffic", name), "M005", f"mirror_traffic targets {name!r}, which "
                  f"already takes {traffic[name]}% of live traffic; mirror only to a deployment with 0% live "
                  "traffic", at_key=True)
    mirrored = sum(v for v in mirror.values() if isinstance(v, (int, float)))
    if mirrored > 50:
        _emit(result, endpoint, ("mirror_traffic",), "M005", f"mirror_traffic adds up to {mirrored}%; Azure mirrors "
              "at most 50%")
    rollout = endpoint.spec.get("rollout")
    if isinstance(rollout, dict):
        if not traffic:
            _emit(result, endpoint, ("rollout",), "M004", "rollout: a release moves the endpoint's traffic from the "
                  "old deployment to the new one, so the endpoint needs a traffic split (traffic: {DEPLOYMENT: 100})",
                  at_key=True)
        for i, step in enumerate(rollout.get("steps") or []):
            pct = step.get("mirror") if isinstance(step, dict) else None
            if isinstance(pct, int) and mirrored + pct > 50:
                _emit(result, endpoint, ("rollout", "steps", i, "mirror"), "M005", f"this step mirrors {pct}% to the "
                      f"new deployment beside the {mirrored}% of mirror_traffic: {mirrored + pct}% in all; Azure "
                      "mirrors at most 50%")
