"""`amlctl pko`: the Pulumi Kubernetes Operator's manifests, validated offline against the
operator's own CRD schemas (../shared/reference/pulumi-kubernetes-operator, v2.9.0)."""
from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import REPO, amlctl

CRDS = REPO.parent / "shared" / "reference" / "pulumi-kubernetes-operator"
PASSPHRASE = "pko-passphrase-never-written"
BACKEND = "azblob://state?storage_account=stplatform"


def strict(schema):
    """A CRD's openAPIV3Schema as a JSON Schema that refuses unknown fields, as the API server's
    strict field validation does for a structural schema: an object that lists its properties
    (and does not preserve unknown fields) takes no others."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(s)
    return s


def crd_validator(file: str, version: str) -> jsonschema.Validator:
    crd = yaml.safe_load((CRDS / file).read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(strict(schema))


@pytest.fixture
def estate(tmp_path, monkeypatch):
    root = tmp_path / "platform"
    assert amlctl("init", str(root), "--ci", "github", cwd=tmp_path).code == 0
    # dev on the passphrase provider, prod on a Key Vault key, as the runbook sets them up.
    dev = root / "stacks" / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text() + "encryptionsalt: v1:c2FsdHNhbHQ=:v1:bm9uY2U=:c2VhbGVk\n")
    prod = root / "stacks" / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text() + "secretsprovider: azurekeyvault://kv-platform.vault.azure.net/keys/amlctl-prod\n"
                    "encryptedkey: ZW5jcnlwdGVk\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    return root


def _docs(root: Path, stack: str) -> list[dict]:
    return list(yaml.safe_load_all((root / "deploy" / "pko" / f"{stack}.yaml").read_text()))


def test_each_azure_stack_gets_a_stack_that_the_operators_crd_accepts(estate):
    r = amlctl("pko", "--repo", "https://github.com/example/platform.git", "--backend", BACKEND,
               "--client-id", "prod=11111111-2222-3333-4444-555555555555", "--tenant-id", "tenant-0", cwd=estate)
    assert r.code == 0, r.err
    written = sorted(p.name for p in (estate / "deploy" / "pko").iterdir())
    assert written == ["dev.yaml", "prod.yaml"]  # the local simulation stack is not the operator's
    validator = crd_validator("pulumi.com_stacks.yaml", "v1")
    stacks = {}
    for name in ("dev", "prod"):
        sa, st = _docs(estate, name)
        errors = [e.message for e in validator.iter_errors(st)]
        assert not errors, errors
        assert sa["kind"] == "ServiceAccount" and st["spec"]["serviceAccountName"] == sa["metadata"]["name"]
        stacks[name] = st
    dev, prod = stacks["dev"]["spec"], stacks["prod"]["spec"]
    assert (dev["stack"], dev["projectRepo"], dev["branch"], dev["backend"]) == \
        ("dev", "https://github.com/example/platform.git", "main", BACKEND)
    assert dev["resyncFrequencySeconds"] == 600 and dev["refresh"] and dev["continueResyncOnCommitMatch"]
    assert "prerequisites" not in dev
    assert prod["prerequisites"] == [{"name": "platform-dev", "requirement": {"succeededWithinDuration": "24h"}}]
    # The passphrase comes from a Kubernetes Secret, for the stack that uses it only.
    assert dev["envRefs"]["PULUMI_CONFIG_PASSPHRASE"] == {
        "type": "Secret", "secret": {"name": "platform-dev", "key": "PULUMI_CONFIG_PASSPHRASE"}}
    assert "PULUMI_CONFIG_PASSPHRASE" not in prod["envRefs"]
    # Azure through workload identity: the pod is labelled, its token is the provider's OIDC token.
    for spec in (dev, prod):
        assert spec["workspaceTemplate"]["spec"]["podTemplate"]["metadata"]["labels"] == {
            "azure.workload.identity/use": "true"}
        assert spec["envRefs"]["ARM_USE_OIDC"]["literal"]["value"] == "true"
        assert spec["envRefs"]["ARM_OIDC_TOKEN_FILE_PATH"]["literal"]["value"].startswith("/var/run/secrets/azure/")
        assert spec["envRefs"]["AMLCTL_BACKEND_URL"]["literal"]["value"] == BACKEND
    assert _docs(estate, "prod")[0]["metadata"]["annotations"]["azure.workload.identity/client-id"] == \
        "11111111-2222-3333-4444-555555555555"
    text = "".join(p.read_text() for p in (estate / "deploy" / "pko").iterdir())
    assert PASSPHRASE not in text


def test_the_strict_schema_catches_a_misspelt_field():
    validator = crd_validator("pulumi.com_stacks.yaml", "v1")
    good = {"apiVersion": "pulumi.com/v1", "kind": "Stack", "metadata": {"name": "x"},
            "spec": {"stack": "dev", "projectRepo": "https://example.com/r.git", "branch": "main"}}
    assert not list(validator.iter_errors(good))
    bad = copy.deepcopy(good)
    bad["spec"]["resyncFrequencySecond"] = 60
    assert any("resyncFrequencySecond" in e.message for e in validator.iter_errors(bad))


@pytest.mark.parametrize("args, said", [
    (["--backend", BACKEND + "&sig=abc"], "--backend: the URL carries a credential (sig)"),
    (["--backend", BACKEND, "--client-id", "staging=1"], "--client-id staging=...: no Azure stack 'staging'"),
    (["--backend", BACKEND, "--client-id", "prod"], "STACK=CLIENT_ID"),
    (["--backend", BACKEND, "--resync", "5"], "--resync 5: at least 60 seconds"),
    ([], "--backend (or AMLCTL_BACKEND_URL)"),
])
def test_bad_options_are_usage_errors_naming_the_option(estate, monkeypatch, args, said):
    monkeypatch.delenv("AMLCTL_BACKEND_URL", raising=False)
    r = amlctl("pko", "--repo", "https://github.com/example/platform.git", *args, cwd=estate)
    assert r.code == 2 and said in r.err and "Traceback" not in r.err, r.err
    assert not (estate / "deploy").exists()


def test_a_stack_without_secrets_configuration_and_a_second_run_are_refused(estate):
    base = ["pko", "--repo", "https://github.com/example/platform.git", "--backend", BACKEND]
    assert amlctl(*base, cwd=estate).code == 0
    r = amlctl(*base, cwd=estate)
    assert r.code == 1 and "dev.yaml already exists: amlctl pko overwrites nothing" in r.err, r.err
    dev = estate / "stacks" / "Pulumi.dev.yaml"
    dev.write_text("\n".join(x for x in dev.read_text().splitlines() if not x.startswith("encryptionsalt")) + "\n")
    r = amlctl(*base, "--out", "elsewhere", cwd=estate)
    assert r.code == 1 and "stacks/Pulumi.dev.yaml has no secrets configuration" in r.err, r.err
