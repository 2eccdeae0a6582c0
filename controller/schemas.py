"""The JSON Schemas in `schemas/`: loading, the kind registry they define, validation.

The schemas are the single source of truth for fields. Each kind's schema carries an
`x-amlctl` block (kind name, scope, the Azure ML CLI `$schema` files it accepts), and
fields that mean something across manifests carry annotations the semantic checks
read: `x-amlctl-ref` (a reference to another kind), `x-amlctl-path` (a local path that
must exist: "file", "dir", "any", or "yaml" for a file read as YAML data, such as a conda
file), `x-amlctl-secret` (a credential that must not be inline), `x-amlctl-run-output` (the
model a run registers, {output_of, output}), `x-amlctl-ref-in-estate` (a reference that only a
manifest of this estate satisfies, never something that exists in Azure already). Nothing in the code
restates which field is which.
"""
from __future__ import annotations

import ast
import difflib
import json
import re
import sys
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import jsonschema_rs
import referencing
import referencing.exceptions
from jsonschema.exceptions import ValidationError, best_match

def _schema_dir() -> Path:
    """The repository's schemas/ (a checkout or an editable install), else the copy a wheel
    installs under <prefix>/share/amlctl/schemas."""
    here = Path(__file__).resolve().parent.parent / "schemas"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "amlctl" / "schemas"


SCHEMA_DIR = _schema_dir()
BASE_URI = "https://amlctl.dev/schemas/v1alpha1/"
API_VERSION = "amlctl.dev/v1alpha1"


@dataclass(frozen=True)
class KindInfo:
    kind: str
    file: str  # schema file name
    scope: str  # "workspace" (lives in a workspace) or "global"
    azureml_schemas: tuple[str, ...]  # basenames of az ml `$schema` URLs (matched case-insensitively)
    name_from_file: bool  # bare documents without `name` take the file's stem (az ml jobs have no name)
    # `type` values that make a bare document without `$schema` this kind: az ml's fine-tuning and
    # distillation files carry none (Microsoft's samples never do).
    bare_types: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return BASE_URI + self.file


class SchemaSet:
    """All schemas, loaded once per process."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self.directory = directory
        self.documents: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.glob("*.schema.json")):
            with path.open(encoding="utf-8") as fh:
                self.documents[path.name] = json.load(fh)
        self.registry = referencing.Registry().with_resources(
            (doc["$id"], referencing.Resource.from_contents(doc)) for doc in self.documents.values()
        )
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._annotated: dict[tuple[str, str], tuple] = {}  # annotations(): (file, document) -> where
        self._resolved: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        self._fast: dict[str, Any] = {}
        self._fast_registry: Any = None
        self.kinds: dict[str, KindInfo] = {}
        self.by_azureml_schema: dict[str, str] = {}
        self.by_bare_type: dict[str, str] = {}  # `type` of a bare document without $schema -> kind
        for name, doc in self.documents.items():
            meta = doc.get("x-amlctl")
            if not meta or "kind" not in meta:
                continue
            info = KindInfo(
                kind=meta["kind"],
                file=name,
                scope=meta.get("scope", "workspace"),
                azureml_schemas=tuple(meta.get("azureml-schemas", ())),
                name_from_file=bool(meta.get("name-from-file", False)),
                bare_types=tuple(meta.get("bare-types", ())),
            )
            self.kinds[info.kind] = info
            for s in info.azureml_schemas:
                self.by_azureml_schema[s.lower()] = info.kind
            for t in info.bare_types:
                self.by_bare_type[t] = info.kind

    def is_valid(self, file: str, instance: Any) -> bool:
        """The quick verdict, from jsonschema-rs (compiled, ~40x faster). Most documents are valid;
        only invalid ones go through the Python validator, which explains the errors."""
        v = self._fast.get(file)
        if v is None:
            if self._fast_registry is None:
                self._fast_registry = jsonschema_rs.Registry([(d["$id"], d) for d in self.documents.values()])
            v = self._fast[file] = jsonschema_rs.validator_for(self.documents[file], registry=self._fast_registry)
        return v.is_valid(instance)

    def validator(self, file: str) -> jsonschema.protocols.Validator:
        v = self._validators.get(file)
        if v is None:
            schema = self.documents[file]
            cls = jsonschema.validators.validator_for(schema)
            v = cls(schema, registry=self.registry)
            self._validators[file] = v
        return v

    def resolve(self, ref: str, base: str) -> tuple[dict[str, Any], str]:
        """Resolve a $ref relative to the schema document at `base`; returns (subschema, the base
        URI of the document it lives in, against which its own $refs resolve). Memoised: the
        annotation walk resolves the same few refs for every document."""
        key = (ref, base)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self._resolve(ref, base)
        return found

    def _resolve(self, ref: str, base: str) -> tuple[dict[str, Any], str]:
        target = ref.split("#", 1)[0]
        try:
            resolved = self.registry.resolver(base_uri=base).lookup(ref)
            return resolved.contents, (BASE_URI + target if target else base)
        except referencing.exceptions.Unresolvable:
            # A local "#/..." ref met while walking with another document's base: find its home.
            for doc in self.documents.values():
                try:
                    return self.registry.resolver(base_uri=doc["$id"]).lookup(ref).contents, doc["$id"]
                except referencing.exceptions.Unresolvable:
                    continue
            raise

    @cached_property
    def _homes(self) -> dict[int, str]:
        """id() of every subschema -> the $id of the document it lives in."""
        homes: dict[int, str] = {}

        def walk(node: Any, base: str) -> None:
            if isinstance(node, dict):
                homes[id(node)] = base
                for v in node.values():
                    walk(v, base)
            elif isinstance(node, list):
                for v in node:
                    walk(v, base)

        for doc in self.documents.values():
            walk(doc, doc["$id"])
        return homes

    def base_of(self, subschema: Any, default: str) -> str:
        """The base URI a subschema's own "#/..." refs resolve against (jsonschema's errors do not
        say which document their subschema came from)."""
        return self._homes.get(id(subschema), default)

    def validator_at(self, base: str) -> jsonschema.protocols.Validator:
        return self.validator(base.rsplit("/", 1)[-1])

    def kind_for_schema_url(self, url: str) -> tuple[str | None, str]:
        """Map an az ml `$schema` URL to a kind. Returns (kind or None, the URL's basename)."""
        base = url.strip().rstrip("/").rsplit("/", 1)[-1]
        base = re.sub(r"\.schema\.json$|\.json$", "", base, flags=re.I)
        return self.by_azureml_schema.get(base.lower()), base


@lru_cache(maxsize=1)
def load() -> SchemaSet:
    return SchemaSet()


# --- turning jsonschema errors into one clear message each -------------------------------------

@dataclass(frozen=True)
class SchemaProblem:
    path: tuple  # JSON path inside the document
    code: str  # S003 schema, S004 unknown field, S005 missing field
    message: str
    at_key: bool = False  # point at the key (unknown fields) rather than the value


def dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


_ANY = object()  # "for any instance": every branch counts


def _properties(schemas: SchemaSet, schema: Any, base: str, instance: Any = _ANY,
                seen: set[int] | None = None) -> set[str]:
    """Property names a schema declares, through $ref, allOf, anyOf/oneOf and if/then/else. With
    an `instance`, only the parts that apply to it count: the if/then/else branch its `if` picks,
    and no anyOf/oneOf alternatives."""
    seen = seen if seen is not None else set()
    if not isinstance(schema, dict) or id(schema) in seen:
        return set()
    seen.add(id(schema))
    names = set(schema.get("properties", {}))
    subs: list[tuple[Any, str]] = [(sub, base) for sub in schema.get("allOf", ())]
    if "$ref" in schema:
        subs.append(schemas.resolve(schema["$ref"], base))
    if instance is _ANY:
        subs += [(sub, base) for key in ("anyOf", "oneOf") for sub in schema.get(key, ())]
        subs += [(schema.get(key), base) for key in ("then", "else")]
    elif "if" in schema:
        branch = "then" if _valid(schemas, schema["if"], base, instance) else "else"
        subs.append((schema.get(branch), base))
    for sub, sub_base in subs:
        names |= _properties(schemas, sub, sub_base, instance, seen)
    return names


def _suggest(word: str, candidates: Any) -> str:
    match = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def describe(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def problems(schemas: SchemaSet, file: str, instance: Any) -> list[SchemaProblem]:
    return problems_for(schemas, file, instance)


def problems_for(schemas: SchemaSet, file: str, instance: Any, schema: dict | None = None) -> list[SchemaProblem]:
    """Problems of `instance` against the schema document `file` (or `schema`, a variant of it)."""
    if schema is None and schemas.is_valid(file, instance):
        return []
    validator = schemas.validator(file)
    if schema is not None:
        validator = validator.evolve(schema=schema)
    out: list[SchemaProblem] = []
    for err in validator.iter_errors(instance):
        out.extend(_explain(schemas, err, schemas.documents[file]["$id"]))
    # One problem per place: a field with a wrong type also fails its pattern, etc.
    unique: dict[tuple, SchemaProblem] = {}
    for p in out:
        unique.setdefault((p.path, p.code, p.message), p)
    return sorted(unique.values(), key=lambda p: (tuple(map(str, p.path)), p.code, p.message))


def _explain(schemas: SchemaSet, err: ValidationError, base: str) -> Iterator[SchemaProblem]:
    path = tuple(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    base = schemas.base_of(err.schema, base)
    custom = schema.get("x-amlctl-message")
    kind = err.validator
    if kind in ("unevaluatedProperties", "additionalProperties") and isinstance(err.instance, dict):
        known = _properties(schemas, err.schema, base)
        applicable = _properties(schemas, err.schema, base, err.instance)
        for key in _unexpected(err, schema):
            where = f" in {dotted(path)}" if path else ""
            if key in applicable:
                # Declared by the branch that applies: jsonschema calls it unevaluated only because
                # something else in that branch failed, and that failure is reported on its own.
                continue
            if key in known:  # valid for another variant (another `type`), not for this one
                variant = err.instance.get("type")
                which = f" when type is {variant!r}" if isinstance(variant, str) else ""
                yield SchemaProblem(path + (key,), "S004", f"field {key!r} does not apply{where}{which}",
                                    at_key=True)
            else:
                yield SchemaProblem(path + (key,), "S004", f"unknown field {key!r}{where}{_suggest(key, known)}",
                                    at_key=True)
        return
    if kind == "required" and isinstance(err.instance, dict):
        for field in err.validator_value:
            if field not in err.instance:
                where = f" in {dotted(path)}" if path else ""
                yield SchemaProblem(path, "S005", f"missing required field {field!r}{where}", at_key=True)
        return
    if kind in ("oneOf", "anyOf") and err.context:
        if custom:  # the schema says in one phrase what its branches accept
            yield SchemaProblem(path, "S003", f"{dotted(path)}: {custom}")
            return
        best = best_match(err.context)
        # When no branch even has the right shape, say which shapes are accepted.
        if best.validator == "type" and not best.absolute_path and custom is None:
            yield SchemaProblem(path, "S003", f"{dotted(path)}: {describe(err.instance)} is not accepted "
                                f"here; expected {_expected(err)}")
            return
        yield from _explain(schemas, best, base)
        return
    if kind == "not" and "enum" in (err.validator_value or {}):
        yield SchemaProblem(path, "S003", f"{dotted(path)}: {err.instance!r} is a reserved name")
        return
    if custom:
        yield SchemaProblem(path, "S003", f"{dotted(path)}: {custom}")
        return
    if kind == "enum":
        hint = _suggest(err.instance, err.validator_value) if isinstance(err.instance, str) else ""
        allowed = ", ".join(repr(v) for v in err.validator_value)
        yield SchemaProblem(path, "S003", f"{dotted(path)}: {err.instance!r} is not one of {allowed}{hint}")
        return
    if kind == "const":
        yield SchemaProblem(path, "S003", f"{dotted(path)}: must be {err.validator_value!r}")
        return
    if kind == "type":
        yield SchemaProblem(path, "S003", f"{dotted(path)}: expected {err.validator_value}, "
                            f"got {describe(err.instance)}")
        return
    if kind == "pattern":
        yield SchemaProblem(path, "S003", f"{dotted(path)}: {err.instance!r} does not match the pattern "
                            f"{err.validator_value}")
        return
    yield SchemaProblem(path, "S003", f"{dotted(path)}: {err.message}")


_UNEXPECTED = re.compile(r"\((.*) (?:was|were) unexpected\)$", re.S)


def _unexpected(err: ValidationError, schema: dict) -> list[str]:
    """The keys an additional/unevaluatedProperties error is about."""
    if err.validator == "additionalProperties":
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        props = schema.get("properties", {})
        return [k for k in err.instance if k not in props and not any(p.search(k) for p in patterns)]
    # jsonschema computes which keys no branch evaluated but exposes them only in its message,
    # as a comma-separated list of Python reprs.
    m = _UNEXPECTED.search(err.message)
    if not m:
        return []
    try:
        keys = ast.literal_eval("(" + m.group(1) + ",)")
    except (ValueError, SyntaxError):
        return []
    return [k for k in keys if isinstance(k, str)]


def _expected(err: ValidationError) -> str:
    kinds = []
    for sub in err.validator_value:
        t = sub.get("type") if isinstance(sub, dict) else None
        if isinstance(t, list):
            kinds.extend(t)
        elif t:
            kinds.append(t)
        elif isinstance(sub, dict) and "$ref" in sub:
            kinds.append(sub["$ref"].rsplit("/", 1)[-1])
    return " or ".join(dict.fromkeys(kinds)) or "another shape"


# --- annotations: which values are references, local paths, secrets ----------------------------

@dataclass(frozen=True)
class Annotated:
    path: tuple
    key: str  # "ref", "path", "secret", "run-output", or "arm"/"arm-set" (the ARM mapping render reads)
    value: Any  # the annotation's value in the schema
    instance: Any  # the document's value at `path`


_ANNOTATIONS = {"x-amlctl-ref": "ref", "x-amlctl-path": "path", "x-amlctl-secret": "secret",
                "x-amlctl-run-output": "run-output", "x-amlctl-ref-in-estate": "ref-in-estate",
                "x-amlctl-arm": "arm", "x-amlctl-arm-set": "arm-set",
                # a field amlctl adds to the az ml file (a pipeline's schedule, an endpoint's rollout):
                # az ml and azure-ai-ml do not know it
                "x-amlctl-extension": "extension"}


def annotations(schemas: SchemaSet, file: str, instance: Any) -> list[Annotated]:
    """Walk a schema-valid document alongside its schema and collect the x-amlctl annotations that
    apply to its values. Branches (anyOf/oneOf/if) are followed only where the value matches them.

    The walk is the costliest step of validating and rendering, and one document is asked about
    many times (its checks, each stack's view, the render, both sides of a plan): where it lies is
    kept per equal document, and each answer's `instance` is read from the document asked about."""
    try:
        key = (file, json.dumps(instance, sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError):  # not plain JSON data (a key that is no string): walk it
        return _annotations(schemas, file, instance)
    found = schemas._annotated.get(key)
    if found is None:
        found = schemas._annotated[key] = tuple((a.path, a.key, a.value)
                                                for a in _annotations(schemas, file, instance))
    return [Annotated(path, name, value, _at(instance, path)) for path, name, value in found]


def _at(instance: Any, path: tuple) -> Any:
    for part in path:
        instance = instance[part]
    return instance


def _annotations(schemas: SchemaSet, file: str, instance: Any) -> list[Annotated]:
    out: list[Annotated] = []
    root = schemas.documents[file]
    _walk(schemas, root, root["$id"], instance, (), out, set())
    seen: set[tuple] = set()
    unique = []
    for a in out:
        # Several branch-level "arm-set" blocks may apply at one path; every other annotation counts once.
        k = (a.path, a.key, repr(a.value) if a.key == "arm-set" else None)
        if k not in seen:
            seen.add(k)
            unique.append(a)
    return unique


def _valid(schemas: SchemaSet, schema: Any, base: str, instance: Any) -> bool:
    if isinstance(schema, bool):
        return schema
    # evolve() keeps the validator's resolver, so "#/$defs/..." refs resolve in the right document.
    return schemas.validator_at(base).evolve(schema=schema).is_valid(instance)


def _walk(schemas: SchemaSet, schema: Any, base: str, inst: Any, path: tuple, out: list[Annotated],
          active: set) -> None:
    if not isinstance(schema, dict):
        return
    guard = (id(schema), path)
    if guard in active:
        return
    active = active | {guard}
    for key, name in _ANNOTATIONS.items():
        if key in schema:
            out.append(Annotated(path, name, schema[key], inst))
    if "$ref" in schema:
        sub, sub_base = schemas.resolve(schema["$ref"], base)
        _walk(schemas, sub, sub_base, inst, path, out, active)
    for sub in schema.get("allOf", ()):
        _walk(schemas, sub, base, inst, path, out, active)
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, ()):
            if _valid(schemas, sub, base, inst):
                _walk(schemas, sub, base, inst, path, out, active)
    if "if" in schema:
        branch = "then" if _valid(schemas, schema["if"], base, inst) else "else"
        if branch in schema:
            _walk(schemas, schema[branch], base, inst, path, out, active)
    if isinstance(inst, dict):
        props = schema.get("properties", {})
        for k, v in inst.items():
            if k in props:
                _walk(schemas, props[k], base, v, path + (k,), out, active)
            else:
                for pattern, sub in schema.get("patternProperties", {}).items():
                    if re.search(pattern, k):
                        _walk(schemas, sub, base, v, path + (k,), out, active)
                if "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
                    _walk(schemas, schema["additionalProperties"], base, v, path + (k,), out, active)
    elif isinstance(inst, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(inst):
            _walk(schemas, schema["items"], base, v, path + (i,), out, active)
