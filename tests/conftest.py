"""Shared test helpers: throwaway repositories and running the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "azureml-cli"

# The smallest workspace manifest: what a bad-input case needs beside the manifest it is about.
WS = """apiVersion: amlctl.dev/v1alpha1
kind: Workspace
metadata:
  name: mlw-test
spec:
  location: westeurope
"""


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def amlctl(*args: str, cwd: Path) -> Run:
    """The real command line, in a subprocess: what a user or CI sees."""
    env = {k: v for k, v in os.environ.items() if k != "AMLCTL_DEBUG"}
    p = subprocess.run([sys.executable, "-m", "controller", *args], cwd=cwd, capture_output=True, text=True,
                       env=env, timeout=120)
    return Run(p.returncode, p.stdout, p.stderr)


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    (root / ".git").mkdir(parents=True, exist_ok=True)  # marks the repository root
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def repo(tmp_path: Path):
    def make(files: dict[str, str | bytes]) -> Path:
        return write_tree(tmp_path / "repo", files)
    return make


def git(root: Path, *args: str) -> str:
    """git in a test repository, as a fixed author."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada Reviewer", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada Reviewer", "GIT_COMMITTER_EMAIL": "ada@example.com"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


WAITS_FOR_A_RUN = "manifests/genai/serverless.yaml"  # the example's serverless endpoint of a fine-tuned model


def git_estate(root: Path) -> Path:
    """A git repository holding a copy of the example estate, committed on main."""
    import shutil
    for part in ("manifests", "stacks"):
        shutil.copytree(REPO / part, root / part)
    # The engine tests hold that one apply converges (a second one changes nothing). What serves a
    # fine-tuning run's model needs a second apply by design (controller.runs): it is left out
    # here, and tests/test_finetuning.py runs that chain.
    (root / WAITS_FOR_A_RUN).unlink()
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / ".gitignore").write_text(".amlctl/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the estate")
    return root
