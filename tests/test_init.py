"""`amlctl init`: a new repository that validates, plans and applies as it stands; and the
pre-commit hook this project ships."""
from __future__ import annotations

import base64
import hashlib
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import REPO, amlctl, git

from controller import scaffold


@pytest.fixture
def scaffolded(tmp_path: Path) -> Path:
    run = amlctl("init", str(tmp_path / "credit-ml"), cwd=tmp_path)
    assert run.code == 0, run.err
    root = tmp_path / "credit-ml"
    git(root, "add", "-A")
    git(root, "commit", "-qm", "amlctl init")
    return root


def test_init_writes_a_repository_that_validates_and_plans(scaffolded: Path):
    names = {p.relative_to(scaffolded).as_posix() for p in scaffolded.rglob("*") if p.is_file() and ".git/" not in
             p.relative_to(scaffolded).as_posix() + "/"}
    for expected in ("manifests/workspace.yaml", "stacks/Pulumi.dev.yaml", "stacks/Pulumi.prod.yaml", "Pulumi.yaml",
                     ".gitignore", "README.md", ".pre-commit-config.yaml", ".github/workflows/amlctl-pr.yml",
                     ".azure-pipelines/amlctl-apply.yml", "schemas/stack.schema.json"):
        assert expected in names, expected
    assert (scaffolded / ".git").is_dir()
    valid = amlctl("validate", "--strict", cwd=scaffolded)
    assert valid.code == 0 and "0 errors, 0 warnings" in valid.out, valid.out + valid.err
    assert "stacks: dev (azure), local (local), prod (azure, production)" in valid.out
    plan = amlctl("plan", "--stack", "prod", "--from-scratch", "--output", "json", cwd=scaffolded)
    assert plan.code == 0, plan.err
    created = {c["name"] for c in plan.json()["changes"] if c["action"] == "create"}
    assert "workspace/mlw-credit-ml" in created
    prod = next(c for c in plan.json()["changes"] if c["name"] == "workspace/mlw-credit-ml")
    assert prod["protected"]  # a production stack protects its workspace
    assert "rg-credit-ml-prod" in plan.out


def test_the_local_stack_applies_and_leaves_the_tree_clean(scaffolded: Path, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    run = amlctl("apply", "--stack", "local", "--yes", cwd=scaffolded)
    assert run.code == 0, run.err
    assert "+ " in run.out and "created" in run.out
    # The stack file already had its encryptionsalt: the engine did not write one, so the next
    # apply is not refused for uncommitted changes.
    assert git(scaffolded, "status", "--porcelain") == ""
    assert "engine was not started" in amlctl("apply", "--stack", "local", "--yes", cwd=scaffolded).out


def test_init_overwrites_nothing_and_checks_names(scaffolded: Path, tmp_path: Path):
    before = (scaffolded / "README.md").read_text()
    again = amlctl("init", str(scaffolded), cwd=tmp_path)
    assert again.code == 2 and "overwrites nothing" in again.err
    assert (scaffolded / "README.md").read_text() == before
    bad = amlctl("init", str(tmp_path / "x"), "--workspace", "no", cwd=tmp_path)
    assert bad.code == 2 and "workspace name 'no'" in bad.err and not (tmp_path / "x" / "README.md").exists()
    only_gh = amlctl("init", str(tmp_path / "gh"), "--ci", "github", "--no-git", cwd=tmp_path)
    assert only_gh.code == 0
    assert (tmp_path / "gh" / ".github").is_dir() and not (tmp_path / "gh" / ".azure-pipelines").exists()
    assert not (tmp_path / "gh" / ".git").exists()


def test_the_passphrase_salt_is_pulumis_format():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    v1, salt, v1b, nonce, sealed = scaffold.passphrase_salt("s3cret").split(":")
    assert (v1, v1b) == ("v1", "v1") and len(base64.b64decode(salt)) == 8
    key = hashlib.pbkdf2_hmac("sha256", b"s3cret", base64.b64decode(salt), 1_000_000, 32)
    assert AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(sealed), None) == b"pulumi"
    # The example estate's local stack salt (written by the Pulumi engine itself) opens the same way.
    local = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())["encryptionsalt"]
    _, salt, _, nonce, sealed = local.split(":")
    key = hashlib.pbkdf2_hmac("sha256", b"", base64.b64decode(salt), 1_000_000, 32)
    assert AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(sealed), None) == b"pulumi"


def test_the_pre_commit_hook_is_a_valid_manifest_and_its_entry_runs(scaffolded: Path):
    from pre_commit.clientlib import load_config, load_manifest
    [hook] = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert hook["id"] == "amlctl-validate" and not hook["pass_filenames"]
    config = load_config(str(scaffolded / ".pre-commit-config.yaml"))
    assert config["repos"][0]["hooks"][0]["id"] == hook["id"]
    # What pre-commit runs, as it runs it: the entry plus args, in the repository's root.
    argv = shlex.split(hook["entry"]) + hook["args"]
    assert argv[0] == "amlctl"
    ok = amlctl(*argv[1:], cwd=scaffolded)
    assert ok.code == 0, ok.err
    (scaffolded / "manifests" / "workspace.yaml").write_text(
        (scaffolded / "manifests" / "workspace.yaml").read_text().replace("location:", "locaton:"))
    broken = amlctl(*argv[1:], cwd=scaffolded)
    assert broken.code == 1 and "manifests/workspace.yaml:" in broken.out

