"""`amlctl init`: a new GitOps repository for an Azure ML estate.

    (project, workspace, location, CI systems) -> files (pure) -> written into DIR (refusing to overwrite)

The skeleton lives under `repo/` and the CI pipelines under `templates/`, as the files they
become; `@@NAME@@` placeholders are the only thing filled in (the CI files have none: their
`${{ }}` expressions are GitHub's and Azure DevOps', not ours).
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from controller import __version__

HERE = Path(__file__).resolve().parent
CI_SYSTEMS = {
    "github": ("templates/github/workflows", ".github/workflows"),
    "azure-devops": ("templates/azure-pipelines", ".azure-pipelines"),
}
# Where teams get amlctl's pre-commit hook from (this project's repository).
AMLCTL_REPO = "https://github.com/amlctl/amlctl"
# Skeleton files whose name in the new repository differs (dotfiles would hide from packaging).
RENAMES = {"gitignore": ".gitignore", "pre-commit-config.yaml": ".pre-commit-config.yaml"}

_PROJECT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # Pulumi project names
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")  # Azure ML workspace names


class InitError(Exception):
    pass


def files(project: str, workspace: str, location: str, ci: tuple[str, ...]) -> dict[str, bytes]:
    """Every file of the new repository, by relative path."""
    if not _PROJECT.match(project):
        raise InitError(f"project name {project!r}: use letters, digits, '-', '_' or '.'")
    if not _WORKSPACE.match(workspace):
        raise InitError(f"workspace name {workspace!r}: 3 to 33 letters, digits, '-' or '_', starting with a "
                        "letter or digit (Azure ML's rule)")
    values = {"PROJECT": project, "WORKSPACE": workspace, "LOCATION": location, "AMLCTL_VERSION": __version__,
              "AMLCTL_REPO": AMLCTL_REPO, "LOCAL_SALT": passphrase_salt("")}
    out: dict[str, bytes] = {}
    skeleton = HERE / "repo"
    for path in sorted(p for p in skeleton.rglob("*") if p.is_file()):
        rel = path.relative_to(skeleton).as_posix()
        text = path.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(f"@@{key}@@", value)
        out[RENAMES.get(rel, rel)] = text.encode("utf-8")
    for system in ci:
        source, dest = CI_SYSTEMS[system]
        for path in sorted((HERE / source).glob("*.yml")):
            out[f"{dest}/{path.name}"] = path.read_bytes()
    from controller import schemas as S
    for path in sorted(S.SCHEMA_DIR.glob("*.schema.json")):
        out[f"schemas/{path.name}"] = path.read_bytes()
    return out


# Files an existing repository already has and init completes instead of refusing: the lines it
# lacks are appended, nothing else in it changes. Every other file that exists is a refusal.
COMPLETED = (".gitignore",)


@dataclass(frozen=True)
class Written:
    path: str
    created: bool = True  # False: an existing file that init completed
    added: tuple[str, ...] = ()  # what was appended to an existing file (may be nothing)


def missing_lines(existing: str, wanted: str) -> list[str]:
    """The ignore patterns of `wanted` that `existing` lacks. `/x/`, `x/` and `x` all ignore the
    folder x at the root, which is what amlctl needs; a negation (`!x`) ignores nothing."""
    def key(line: str) -> str:
        return line.strip().strip("/")
    have = {key(line) for line in existing.splitlines() if line.strip() and not line.lstrip().startswith(("#", "!"))}
    out = []
    for line in wanted.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and key(line) not in have:
            out.append(line.strip())
            have.add(key(line))
    return out


def write(dest: Path, content: dict[str, bytes]) -> list[Written]:
    """Write the files; refuse (writing nothing) if any already exists, except that an existing
    .gitignore gains the lines it lacks (appended, the rest of it untouched)."""
    clashes = sorted(rel for rel in content if (dest / rel).exists()
                     and not (rel in COMPLETED and (dest / rel).is_file()))
    if clashes:
        raise InitError(f"{dest} already has {', '.join(clashes[:5])}{' ...' if len(clashes) > 5 else ''}: "
                        "init writes a new repository and overwrites nothing")
    out = []
    for rel, data in sorted(content.items()):
        path = dest / rel
        if rel in COMPLETED and path.is_file():
            before = path.read_bytes()
            added = missing_lines(before.decode("utf-8", "replace"), data.decode("utf-8"))
            if added:
                gap = b"" if not before or before.endswith(b"\n") else b"\n"
                with path.open("ab") as f:  # append: what the file had stays byte for byte
                    f.write(gap + ("\n# added by amlctl init\n" + "".join(f"{line}\n" for line in added)).encode())
            out.append(Written(rel, created=False, added=tuple(added)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append(Written(rel))
    return out


def passphrase_salt(passphrase: str) -> str:
    """A stack file's `encryptionsalt` for Pulumi's passphrase secrets provider.

    Pulumi writes one into the stack file the first time it opens a stack that has none; written
    by init instead, it is committed with the rest, and a first apply does not dirty the tree.
    The format is Pulumi's: "v1:" + base64(8-byte salt) + ":" + the word "pulumi" encrypted with
    AES-256-GCM under PBKDF2-SHA256(passphrase, salt, 1,000,000 rounds), as "v1:nonce:ciphertext".
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    salt, nonce = os.urandom(8), os.urandom(12)
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode("utf-8"), salt, 1_000_000, 32)
    sealed = AESGCM(key).encrypt(nonce, b"pulumi", None)
    b64 = base64.b64encode
    return f"v1:{b64(salt).decode()}:v1:{b64(nonce).decode()}:{b64(sealed).decode()}"
