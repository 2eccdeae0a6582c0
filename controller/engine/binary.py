"""Finding the Pulumi engine (the `pulumi` CLI the Automation API drives).

In order: $AMLCTL_PULUMI (a path to a `pulumi` binary); the build of
scripts/build-pulumi-engine.sh for the installed pulumi SDK version, under $AMLCTL_PULUMI_ROOT
(default ~/.cache/amlctl/pulumi); `pulumi` on PATH (an official install). When there is none,
`EngineMissing` says exactly what to do.
"""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class EngineMissing(Exception):
    pass


@dataclass(frozen=True)
class Engine:
    binary: Path
    version: str  # "3.259.0"
    source: str  # where it was found, for messages

    @property
    def root(self) -> Path:
        """What auto.PulumiCommand(root=...) takes: the folder above bin/."""
        return self.binary.parent.parent


def sdk_version() -> str:
    return importlib.metadata.version("pulumi")


def default_root() -> Path:
    return Path(os.environ.get("AMLCTL_PULUMI_ROOT") or Path.home() / ".cache" / "amlctl" / "pulumi")


def _version_of(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    v = out.stdout.strip().lstrip("v")
    return v if out.returncode == 0 and v else None


def find_engine(env: dict[str, str] | None = None) -> Engine:
    env = dict(os.environ if env is None else env)
    wanted = sdk_version()
    candidates: list[tuple[Path, str]] = []
    if env.get("AMLCTL_PULUMI"):
        candidates.append((Path(env["AMLCTL_PULUMI"]), "$AMLCTL_PULUMI"))
    root = Path(env["AMLCTL_PULUMI_ROOT"]) if env.get("AMLCTL_PULUMI_ROOT") else default_root()
    candidates.append((root / wanted / "bin" / "pulumi", f"the build in {root}"))
    on_path = shutil.which("pulumi", path=env.get("PATH"))
    if on_path:
        candidates.append((Path(on_path), "PATH"))
    tried = []
    for binary, source in candidates:
        if not binary.is_file():
            tried.append(f"{binary} ({source}): not there")
            continue
        version = _version_of(binary)
        if version is None:
            tried.append(f"{binary} ({source}): does not run, or prints no version (an unstamped build)")
            continue
        return Engine(binary, version, source)
    raise EngineMissing(
        "no Pulumi engine found. Either build it from Go modules (no downloads needed beyond the Go "
        f"module proxy): scripts/build-pulumi-engine.sh {wanted}   (make engine does this), or install "
        "Pulumi (https://www.pulumi.com/docs/install/) and put `pulumi` on PATH, or set "
        "AMLCTL_PULUMI=/path/to/pulumi. Looked at: " + "; ".join(tried))
