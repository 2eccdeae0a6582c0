"""Issue 17, files: nothing outside the repository is read (through symlinks in code, model and
build-context folders too), special files are never opened, bad YAML data files and a bad
Pulumi.yaml are errors with their file and line, files are hashed in constant memory, and
`validate` outside a repository is a usage error instead of a walk of the whole folder."""
from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from conftest import REPO, WS, amlctl, git_estate, write_tree

COMPONENT = """apiVersion: amlctl.dev/v1alpha1
kind: Component
metadata:
  name: comp
spec:
  type: command
  command: python main.py
  code: ./src
  environment: azureml:e:1
"""  # code: is line 8
MODEL = """$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
name: credit
version: 1
path: ./model
"""  # path: is line 4
ENVIRONMENT = """$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: env
image: python:3.11
conda_file: conda.yml
"""  # conda_file: is line 4
SHARED_CONDA = ENVIRONMENT.replace("conda_file: conda.yml", "conda_file: ../envs/conda.yml")
BUILD = """$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: built
build:
  path: ./ctx
"""  # build.path is line 4
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))
SECRET = "outside-the-repository-do-not-read"


def _code(root: Path) -> None:
    (root / "m" / "src").mkdir(parents=True)
    (root / "m" / "src" / "main.py").write_text("print('hi')\n")


def link_out_of_code(root: Path, outside: Path) -> None:
    _code(root)
    os.symlink(outside / "secret.txt", root / "m" / "src" / "link.py")


def folder_link_out_of_code(root: Path, outside: Path) -> None:
    _code(root)
    os.symlink(outside, root / "m" / "src" / "data")


def loop_in_code(root: Path, outside: Path) -> None:
    _code(root)
    os.symlink(".", root / "m" / "src" / "again")


def self_loop_in_code(root: Path, outside: Path) -> None:
    _code(root)
    os.symlink("self", root / "m" / "src" / "self")


def fifo_in_code(root: Path, outside: Path) -> None:
    _code(root)
    os.mkfifo(root / "m" / "src" / "pipe")


def unreadable_in_code(root: Path, outside: Path) -> None:
    _code(root)
    (root / "m" / "src" / "secret.py").write_text("x = 1\n")
    os.chmod(root / "m" / "src" / "secret.py", 0)


def dev_zero_in_model(root: Path, outside: Path) -> None:
    (root / "m" / "model").mkdir(parents=True)
    os.symlink("/dev/zero", root / "m" / "model" / "weights.bin")


def link_out_of_build_context(root: Path, outside: Path) -> None:
    (root / "m" / "ctx").mkdir(parents=True)
    (root / "m" / "ctx" / "Dockerfile").write_text("FROM python:3.11\n")
    os.symlink(outside / "secret.txt", root / "m" / "ctx" / "token")


def fifo_named_yaml(root: Path, outside: Path) -> None:
    os.mkfifo(root / "m" / "x.yaml")


def dev_zero_named_yaml(root: Path, outside: Path) -> None:
    os.symlink("/dev/zero", root / "m" / "z.yaml")


def fifo_conda(root: Path, outside: Path) -> None:
    os.mkfifo(root / "m" / "conda.yml")


def project_file_out(root: Path, outside: Path) -> None:
    os.symlink(outside / "secret.txt", root / "Pulumi.yaml")


def nothing(root: Path, outside: Path) -> None:
    pass


ROOT_ONLY = "root reads a chmod 000 file anyway: there is nothing unreadable to report"
# (id, files, setup, expected code, expected path, expected line, what the message names)
CASES = [
    ("symlink-out-of-a-code-folder", {"m/c.yaml": COMPONENT}, link_out_of_code, "Y011", "m/c.yaml", 8,
     "m/src/link.py"),
    ("folder-symlink-out-of-a-code-folder", {"m/c.yaml": COMPONENT}, folder_link_out_of_code, "Y011", "m/c.yaml",
     8, "m/src/data"),
    ("symlink-loop-in-a-code-folder", {"m/c.yaml": COMPONENT}, loop_in_code, "Y013", "m/c.yaml", 8, "m/src/again"),
    ("self-loop-in-a-code-folder", {"m/c.yaml": COMPONENT}, self_loop_in_code, "Y013", "m/c.yaml", 8, "m/src/self"),
    ("fifo-in-a-code-folder", {"m/c.yaml": COMPONENT}, fifo_in_code, "Y013", "m/c.yaml", 8, "m/src/pipe"),
    ("unreadable-file-in-a-code-folder", {"m/c.yaml": COMPONENT}, unreadable_in_code, "Y013", "m/c.yaml", 8,
     "m/src/secret.py"),
    ("dev-zero-in-a-model-folder", {"m/model.yaml": MODEL}, dev_zero_in_model, "Y011", "m/model.yaml", 4,
     "m/model/weights.bin"),
    ("symlink-out-of-a-build-context", {"m/env.yaml": BUILD}, link_out_of_build_context, "Y011", "m/env.yaml", 4,
     "m/ctx/token"),
    ("fifo-named-yaml-in-manifests", {}, fifo_named_yaml, "Y013", "m/x.yaml", 0, "FIFO"),
    ("dev-zero-named-yaml-in-manifests", {}, dev_zero_named_yaml, "Y011", "m/z.yaml", 0, "/dev/zero"),
    ("conda-file-is-a-fifo", {"m/env.yaml": ENVIRONMENT}, fifo_conda, "Y013", "m/env.yaml", 4, "m/conda.yml"),
    # Conda files outside the manifest folders: only the path check reads them (as render would).
    ("conda-file-not-yaml", {"m/env.yaml": SHARED_CONDA, "envs/conda.yml":
                             "name: env\ndependencies:\n  - [python=3.11\n"}, nothing, "Y001", "envs/conda.yml", 4, ""),
    ("conda-file-alias-bomb", {"m/env.yaml": SHARED_CONDA, "envs/conda.yml": BOMB}, nothing, "Y003",
     "envs/conda.yml", None, ""),
    ("broken-pulumi-yaml", {"Pulumi.yaml": "name: estate\nruntime: [python\n"}, nothing, "Y001", "Pulumi.yaml", 3,
     ""),
    ("pulumi-yaml-links-out", {}, project_file_out, "Y011", "Pulumi.yaml", 0, "outside the repository"),
    ("alias-bombed-pulumi-yaml", {"Pulumi.yaml": "name: estate\n" + BOMB}, nothing, "Y003", "Pulumi.yaml", None, ""),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_files_outside_or_special_are_never_read(tmp_path: Path, case) -> None:
    _id, files, setup, code, path, line, named = case
    if setup is unreadable_in_code and os.geteuid() == 0:
        pytest.skip(ROOT_ONLY)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    root = write_tree(tmp_path / "repo", {"m/ws.yaml": WS, **files})
    setup(root, outside)
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    assert run.code == 1, (run.out, run.err)
    assert "Traceback" not in run.err and "internal error" not in run.err
    errors = [d for d in run.json()["diagnostics"] if d["severity"] == "error"]
    matching = [d for d in errors if d["code"] == code and d["path"] == path]
    assert matching, f"expected {code} at {path}; got {errors}"
    if line is not None:
        assert line in [d["line"] for d in matching], matching
    assert any(named in d["message"] for d in matching), matching
    assert SECRET not in run.out + run.err


def test_unreadable_row_is_meaningful_as_root_too(tmp_path: Path) -> None:
    """The chmod 000 row skips under root, where permissions do not stop a read: there, the file
    must be read like any other (no false Y013); as any other user it is Y013."""
    root = write_tree(tmp_path / "repo", {"m/ws.yaml": WS, "m/c.yaml": COMPONENT})
    unreadable_in_code(root, tmp_path)
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    codes = {d["code"] for d in run.json()["diagnostics"] if d["severity"] == "error"}
    assert codes == (set() if os.geteuid() == 0 else {"Y013"}) and "Traceback" not in run.err


def test_render_refuses_what_validate_would_have_refused(tmp_path: Path) -> None:
    """The renderer's own walk: with validate's checks skipped, a link out of a code folder is a
    diagnostic naming it, never hashed."""
    from controller import stacks as st
    from controller.manifests.loader import load_files
    from controller.render import render
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    root = write_tree(tmp_path / "repo", {"m/ws.yaml": WS, "m/c.yaml": COMPONENT,
                                          "stacks/Pulumi.dev.yaml": "config:\n  amlctl:target: azure\n"})
    link_out_of_code(root, outside)
    loaded = load_files([(root / "m" / "ws.yaml", "m/ws.yaml"), (root / "m" / "c.yaml", "m/c.yaml")])
    stack, _ = st.load_stack(root / "stacks" / "Pulumi.dev.yaml", "stacks/Pulumi.dev.yaml")
    out = render(loaded.manifests, stack, root=root)
    assert out.graph is None
    assert [(d.code, d.path) for d in out.diagnostics if d.severity.value == "error"] == [("Y011", "m/src/link.py")]


def test_upload_and_hash_follow_one_walk_through_links_inside_the_repository(tmp_path: Path) -> None:
    """A folder linked from inside the repository is followed by the upload and by azure-ai-ml's
    object hash alike (and the hash stays azure-ai-ml's)."""
    from azure.ai.ml._utils._asset_utils import get_object_hash

    from controller.render.kinds import anonymous
    root = write_tree(tmp_path / "repo", {"shared/weights.bin": "w", "m/model/config.json": "{}"})
    os.symlink("../../shared", root / "m" / "model" / "shared")
    assert anonymous.object_hash(root / "m" / "model", root) == get_object_hash(root / "m" / "model")
    from controller import files
    assert [r for r, _ in files.walk(root / "m" / "model", root)] == ["config.json", "shared/weights.bin"]


def test_files_are_hashed_in_constant_memory(tmp_path: Path) -> None:
    """A large (sparse) file is hashed by every hasher without being read whole: the peak of Python
    allocations stays a few chunks, not the file's size."""
    from controller import files
    from controller.engine import local
    from controller.render.kinds import anonymous
    size = 64 * 1024 * 1024
    big = tmp_path / "model" / "weights.bin"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(size)  # sparse: no disk used, no time spent writing
    expected = hashlib.sha256()
    for _ in range(size // files.CHUNK):
        expected.update(bytes(files.CHUNK))
    for hasher in (lambda: files.sha256(big, tmp_path), lambda: local._file_sha256(str(big)),
                   lambda: anonymous.object_hash(big.parent, tmp_path)):
        tracemalloc.start()
        try:
            digest = hasher()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 * files.CHUNK, f"{peak:,} bytes at peak for a {size:,}-byte file"
        assert len(digest) == 64
    assert files.sha256(big, tmp_path) == expected.hexdigest()


def test_the_engine_refuses_an_alias_bombed_project_file_at_once(tmp_path: Path) -> None:
    from controller.engine import operations
    root = write_tree(tmp_path, {"Pulumi.yaml": "name: estate\n" + BOMB})
    with pytest.raises(operations.Refused, match=r"Pulumi\.yaml:2:\d+: error\[Y003\]"):
        operations._project_name(root)
    (root / "Pulumi.yaml").write_text("name: estate\nruntime: python\n")
    assert operations._project_name(root) == "estate"


def test_apply_with_an_alias_bombed_project_file_is_a_clear_error(tmp_path: Path) -> None:
    root = git_estate(tmp_path)
    (root / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text() + BOMB)
    run = amlctl("apply", "--stack", "local", "--yes", "--allow-dirty", cwd=root)
    assert run.code == 1, (run.out, run.err)
    assert "Pulumi.yaml:" in run.err and "Y003" in run.err
    assert "Traceback" not in run.err and "internal error" not in run.err


# -- validate outside a repository ------------------------------------------------------------------

@pytest.mark.parametrize("with_git", [False, True], ids=["no-git", "git-but-no-amlctl-folders"])
def test_validate_outside_a_repository_is_a_usage_error_not_a_walk(tmp_path: Path, with_git: bool) -> None:
    folder = tmp_path / "home"
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "deep" / "er" / "notes.yaml").write_text("a: 1\n")
    os.mkfifo(folder / "deep" / "pipe.yaml")  # a walk would stop here for ever
    if with_git:
        (folder / ".git").mkdir()
    run = amlctl("validate", cwd=folder)
    assert run.code == 2, (run.out, run.err)
    assert str(folder) in run.err and "PATHS" in run.err and "amlctl init" in run.err
    assert "Traceback" not in run.err and "notes.yaml" not in run.out + run.err


def test_validate_with_paths_outside_a_repository_reads_only_them(tmp_path: Path) -> None:
    folder = tmp_path / "home"
    write_tree(folder, {"m/ws.yaml": WS})
    (folder / ".git").rmdir()
    os.mkfifo(folder / "elsewhere.yaml")
    run = amlctl("validate", "m", cwd=folder)
    assert run.code == 0, (run.out, run.err)


def test_a_stack_file_that_links_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # What it says must not count either: here, the manifest folders validate reads.
    (outside / "stack.yaml").write_text(f"config:\n  amlctl:target: local\n  amlctl:manifests: [other]\n"
                                        f"  amlctl:token: {SECRET}\n")
    root = write_tree(tmp_path / "repo", {"manifests/ws.yaml": WS, "stacks/Pulumi.local.yaml":
                                          "config:\n  amlctl:target: local\n", "other/broken.yaml": "a: [\n"})
    os.symlink(outside / "stack.yaml", root / "stacks" / "Pulumi.dev.yaml")
    run = amlctl("validate", "--output", "json", cwd=root)
    assert run.code == 1 and "Traceback" not in run.err, run.err
    errors = [(d["code"], d["path"]) for d in run.json()["diagnostics"] if d["severity"] == "error"]
    assert ("Y011", "stacks/Pulumi.dev.yaml") in errors, errors
    assert not any(path.startswith("other/") for _, path in errors), errors
    assert SECRET not in run.out + run.err
