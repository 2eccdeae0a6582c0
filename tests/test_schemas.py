"""The schemas themselves: valid JSON Schema, stable ids, documented, examples that pass."""
from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import REPO

from controller import schemas as S

FILES = sorted((REPO / "schemas").glob("*.schema.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_schema_is_valid_and_has_a_stable_id(path) -> None:
    doc = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$id"] == S.BASE_URI + path.name
    assert doc.get("description")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_examples_validate_against_their_own_schema(path) -> None:
    doc = json.loads(path.read_text())
    schemas = S.load()
    examples = doc.get("examples", [])
    if doc.get("x-amlctl") or path.name in ("envelope.schema.json",):
        assert examples, "kind schemas carry examples for editors"
    for example in examples:
        assert S.problems(schemas, path.name, example) == []


def test_every_top_level_field_is_described() -> None:
    schemas = S.load()
    missing = []
    for info in schemas.kinds.values():
        doc = schemas.documents[info.file]
        for name, prop in doc.get("properties", {}).items():
            if name == "$schema":
                continue
            described = "description" in prop or "$ref" in prop
            if not described:
                missing.append(f"{info.file}:{name}")
    assert missing == []


def test_the_envelope_names_every_kind() -> None:
    schemas = S.load()
    env = schemas.documents["envelope.schema.json"]
    assert sorted(env["properties"]["kind"]["enum"]) == sorted(schemas.kinds)


def test_fast_validator_agrees_with_the_reference_validator() -> None:
    """jsonschema-rs gives the quick verdict; Python jsonschema explains errors. They must agree on
    every real document (the corpus, the example estate), valid and invalid alike."""
    import corpus_check as cc

    from controller.manifests.yamlsafe import parse

    schemas = S.load()
    paths = [(cc.CORPUS / row["path"], kind) for row, kind in cc.supported_rows()] if cc.CORPUS.exists() else []
    checked = disagreements = 0
    for path, kind in paths:
        docs, _ = parse(str(path), path.read_bytes())
        for doc in docs:
            if not isinstance(doc.data, dict):
                continue
            file = schemas.kinds[kind].file
            instance = {k: v for k, v in doc.data.items() if k != "$schema"}
            fast = schemas.is_valid(file, instance)
            reference = schemas.validator(file).is_valid(instance)
            checked += 1
            disagreements += fast != reference
            assert fast == reference, path
    for path in sorted((REPO / "manifests").rglob("*.yaml")):
        docs, _ = parse(str(path), path.read_bytes())
        for doc in docs:
            if isinstance(doc.data, dict) and "apiVersion" in doc.data:
                assert schemas.is_valid("envelope.schema.json", doc.data) == \
                       schemas.validator("envelope.schema.json").is_valid(doc.data)
                checked += 1
    assert checked > 20 and disagreements == 0
