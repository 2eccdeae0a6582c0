"""Finding the Pulumi engine, and the build script's idempotence."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from controller.engine.binary import EngineMissing, find_engine, sdk_version


def fake_pulumi(path: Path, prints: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{prints}'\n")
    path.chmod(0o755)
    return path


def test_the_environment_variable_wins(tmp_path: Path):
    binary = fake_pulumi(tmp_path / "custom" / "bin" / "pulumi", f"v{sdk_version()}")
    engine = find_engine({"AMLCTL_PULUMI": str(binary), "AMLCTL_PULUMI_ROOT": str(tmp_path / "none"), "PATH": ""})
    assert engine.binary == binary and engine.source == "$AMLCTL_PULUMI"
    assert engine.root == tmp_path / "custom"  # what auto.PulumiCommand(root=...) takes


def test_the_build_for_the_sdk_version_is_found(tmp_path: Path):
    fake_pulumi(tmp_path / sdk_version() / "bin" / "pulumi", f"v{sdk_version()}")
    engine = find_engine({"AMLCTL_PULUMI_ROOT": str(tmp_path), "PATH": ""})
    assert engine.version == sdk_version()


def test_an_unstamped_build_is_skipped_for_one_on_path(tmp_path: Path):
    fake_pulumi(tmp_path / "root" / sdk_version() / "bin" / "pulumi", "")  # prints no version
    fake_pulumi(tmp_path / "path" / "pulumi", "v3.300.0")
    engine = find_engine({"AMLCTL_PULUMI_ROOT": str(tmp_path / "root"), "PATH": str(tmp_path / "path")})
    assert engine.source == "PATH" and engine.version == "3.300.0"


def test_no_engine_says_what_to_do(tmp_path: Path):
    with pytest.raises(EngineMissing) as e:
        find_engine({"AMLCTL_PULUMI_ROOT": str(tmp_path), "PATH": ""})
    text = str(e.value)
    assert f"scripts/build-pulumi-engine.sh {sdk_version()}" in text
    assert "put `pulumi` on PATH" in text and "AMLCTL_PULUMI=" in text


def test_the_build_script_does_nothing_when_the_version_is_built(tmp_path: Path):
    fake_pulumi(tmp_path / "9.9.9" / "bin" / "pulumi", "v9.9.9")
    env = {**os.environ, "AMLCTL_PULUMI_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}  # no Go needed
    p = subprocess.run(["bash", str(REPO / "scripts/build-pulumi-engine.sh"), "9.9.9"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "already built" in p.stdout


def test_the_engine_make_test_builds_runs_and_is_stamped():
    engine = find_engine()
    assert engine.version == sdk_version()
