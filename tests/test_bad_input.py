"""Bad input, table-driven: every broken manifest gets the right code, file and line, a
non-zero exit and no traceback. Each case runs the real CLI in a subprocess."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import WS, amlctl, write_tree



def env(kind: str, name: str, spec: str, extra_meta: str = "") -> str:
    body = "\n".join("  " + line for line in spec.strip("\n").splitlines())
    return (f"apiVersion: amlctl.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{extra_meta}"
            f"spec:\n{body}\n")


CLUSTER = env("Compute", "cpu", "type: amlcompute\nsize: Standard_DS3_v2\nmax_instances: 2")
ENDPOINT = "kind: OnlineEndpoint"


def deployment(name: str, endpoint: str = "scoring") -> str:
    return (f"$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
            f"name: {name}\nendpoint_name: {endpoint}\nmodel: azureml:m:1\nenvironment: azureml:e:1\n"
            f"instance_type: Standard_DS3_v2\ninstance_count: 1\n")


def endpoint(traffic: str) -> str:
    return env("OnlineEndpoint", "scoring", f"auth_mode: key\n{traffic}")


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))

STACK = "config:\n  amlctl:target: azure\n"

# (id, files, extra CLI args, expected code, expected file, expected line)
CASES = [
    # --- syntax and reading -------------------------------------------------------------
    ("syntax-unclosed-flow", {"m/a.yaml": "name: x\nitems: [1, 2\n"}, [], "Y001", "m/a.yaml", 3),
    ("syntax-bad-indent", {"m/a.yaml": "a:\n  b: 1\n c: 2\n"}, [], "Y001", "m/a.yaml", 3),
    ("syntax-mapping-in-scalar", {"m/a.yaml": "a: b: c\n"}, [], "Y001", "m/a.yaml", 1),
    ("syntax-control-char", {"m/a.yaml": "a: \x07bell\n"}, [], "Y001", "m/a.yaml", 1),
    ("nul-byte-on-line-6", {"m/a.yaml": CLUSTER.replace("type: amlcompute", "type: aml\x00compute")}, [], "Y001",
     "m/a.yaml", 6),
    ("esc-byte-on-line-5", {"m/a.yaml": "a: 1\nb: 2\nc: 3\nd: 4\ne: \x1b[31mred\n"}, [], "Y001", "m/a.yaml", 5),
    # --- scalars: a tag must fit its value; integers must fit what reaches ARM ---------------
    ("tag-int-on-a-word", {"m/a.yaml": CLUSTER.replace("max_instances: 2", 'max_instances: !!int "four"')},
     [], "Y001", "m/a.yaml", 8),
    ("tag-float-on-a-word", {"m/a.yaml": CLUSTER.replace("max_instances: 2", 'max_instances: !!float "x"')},
     [], "Y001", "m/a.yaml", 8),
    ("tag-bool-on-a-word", {"m/a.yaml": CLUSTER.replace("max_instances: 2", 'max_instances: !!bool "maybe"')},
     [], "Y001", "m/a.yaml", 8),
    ("tag-int-empty", {"m/a.yaml": CLUSTER.replace("max_instances: 2", "max_instances: !!int")},
     [], "Y001", "m/a.yaml", 8),
    ("tag-null-on-a-word", {"m/a.yaml": CLUSTER.replace("max_instances: 2", 'max_instances: !!null "x"')},
     [], "Y001", "m/a.yaml", 8),
    ("integer-beyond-arm", {"m/a.yaml": CLUSTER.replace("max_instances: 2", "max_instances: " + "1" + "0" * 42)},
     [], "Y014", "m/a.yaml", 8),
    ("integer-beyond-a-double", {"m/a.yaml": CLUSTER.replace("max_instances: 2", f"max_instances: {2 ** 53 + 1}")},
     [], "Y014", "m/a.yaml", 8),
    ("duplicate-key-top", {"m/a.yaml": CLUSTER + "kind: Workspace\n"}, [], "Y002", "m/a.yaml", 9),
    ("duplicate-key-nested", {"m/a.yaml": env("Compute", "cpu", "type: amlcompute\nsize: a_b\nsize: b_c")},
     [], "Y002", "m/a.yaml", 8),
    ("alias-bomb", {"m/a.yaml": BILLION_LAUGHS}, [], "Y003", "m/a.yaml", None),
    ("alias-recursive", {"m/a.yaml": "a: &x [1, *x]\n"}, [], "Y003", "m/a.yaml", 1),
    ("nesting-too-deep", {"m/a.yaml": "a: " + "[" * 100 + "]" * 100 + "\n"}, [], "Y004", "m/a.yaml", 1),
    ("file-too-large", {"m/big.yaml": "a: " + "x" * (25 * 1024 * 1024) + "\n"}, [], "Y005", "m/big.yaml", 0),
    ("too-many-documents", {"m/a.yaml": "---\na: 1\n" * 300}, [], "Y006", "m/a.yaml", None),
    ("invalid-utf8", {"m/a.yaml": b"name: caf\xe9\n"}, [], "Y007", "m/a.yaml", 1),
    ("utf16-file", {"m/a.yaml": "name: x\n".encode("utf-16")}, [], "Y007", "m/a.yaml", 1),
    ("tag-python-object", {"m/a.yaml": "a: !!python/object/apply:os.system ['id']\n"}, [], "Y008", "m/a.yaml", 1),
    ("tag-python-name", {"m/a.yaml": "a: !!python/name:os.system\n"}, [], "Y008", "m/a.yaml", 1),
    ("tag-binary", {"m/a.yaml": "a: !!binary aGVsbG8=\n"}, [], "Y008", "m/a.yaml", 1),
    ("tag-custom", {"m/a.yaml": "name: x\nid: !Ref Other\n"}, [], "Y008", "m/a.yaml", 2),
    ("tag-set", {"m/a.yaml": "s: !!set {a, b}\n"}, [], "Y008", "m/a.yaml", 1),
    ("placeholder-key", {"m/a.yaml": deployment("dep").replace("endpoint_name: scoring", "endpoint_name: {{EP}}")},
     [], "Y009", "m/a.yaml", 3),
    ("empty-file", {"m/a.yaml": ""}, [], "Y010", "m/a.yaml", 1),
    ("only-comments", {"m/a.yaml": "# nothing here\n# at all\n"}, [], "Y010", "m/a.yaml", 1),
    ("no-manifests", {"m/readme.txt": "not yaml"}, [], "Y012", "m", 0),
    ("path-escape-code", {"m/ws.yaml": WS, "m/c.yaml": env(
        "Component", "comp", "type: command\ncommand: echo hi\ncode: ../../../etc\nenvironment: azureml:e:1")},
     [], "Y011", "m/c.yaml", 8),
    # --- what a document is, and schemas --------------------------------------------------
    ("document-is-a-list", {"m/a.yaml": "- a\n- b\n"}, [], "S001", "m/a.yaml", 1),
    ("plain-yaml-not-manifest", {"m/a.yaml": "foo: 1\nbar: 2\n"}, [], "S001", "m/a.yaml", 1),
    ("unsupported-azureml-kind", {"m/a.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/"
                                  "autoMLJob.schema.json\ntask: classification\n"}, [], "S002", "m/a.yaml", 1),
    ("unknown-envelope-kind", {"m/a.yaml": env("Computer", "x", "type: amlcompute")}, [], "S003", "m/a.yaml", 2),
    ("wrong-api-version", {"m/a.yaml": CLUSTER.replace("amlctl.dev/v1alpha1", "v2")}, [], "S003", "m/a.yaml", 1),
    ("missing-metadata-name", {"m/a.yaml": CLUSTER.replace("  name: cpu\n", "  labels: {}\n")},
     [], "S005", "m/a.yaml", 3),
    ("unknown-metadata-field", {"m/a.yaml": CLUSTER.replace("  name: cpu\n", "  name: cpu\n  namespace: x\n")},
     [], "S004", "m/a.yaml", 5),
    ("unknown-spec-field", {"m/a.yaml": CLUSTER.replace("max_instances", "max_instance")}, [], "S004", "m/a.yaml", 8),
    ("wrong-type", {"m/a.yaml": CLUSTER.replace("max_instances: 2", "max_instances: four")},
     [], "S003", "m/a.yaml", 8),
    ("bad-enum", {"m/a.yaml": CLUSTER + "  tier: spot\n"}, [], "S003", "m/a.yaml", 9),
    ("bad-name-first-char", {"m/a.yaml": CLUSTER.replace("name: cpu", "name: 1cpu")}, [], "S003", "m/a.yaml", 4),
    ("bad-name-too-long", {"m/a.yaml": CLUSTER.replace("name: cpu", "name: a-cluster-name-far-too-long")},
     [], "S003", "m/a.yaml", 4),
    ("bad-name-chars", {"m/a.yaml": CLUSTER.replace("name: cpu", "name: cpu_cluster!")}, [], "S003", "m/a.yaml", 4),
    ("reserved-name", {"m/a.yaml": CLUSTER.replace("name: cpu", "name: local")}, [], "S003", "m/a.yaml", 4),
    ("bare-missing-name", {"m/a.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n"
                           "type: amlcompute\n"}, [], "S005", "m/a.yaml", 1),
    ("spec-name-differs", {"m/a.yaml": CLUSTER + "  name: gpu\n"}, [], "S006", "m/a.yaml", 9),
    ("missing-required-field", {"m/a.yaml": env("Compute", "aks", "type: kubernetes")}, [], "S005", "m/a.yaml", 5),
    # --- meaning across manifests -------------------------------------------------------------
    ("duplicate-name", {"m/a.yaml": CLUSTER, "m/b.yaml": CLUSTER}, [], "M001", "m/b.yaml", 4),
    ("external-ref-strict", {"m/ws.yaml": WS, "m/d.yaml": deployment("blue"), "m/e.yaml": endpoint("")},
     ["--strict", "--skip-path-checks"], "M002", "m/d.yaml", 4),
    ("dangling-manifest-ref", {"m/ws.yaml": WS, "m/r.yaml": env("RoleAssignment", "ra", """
principal: {object_id: 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b, type: Group}
role: Reader
scope: {kind: Workspace, name: mlw-tset}""")}, [], "M003", "m/r.yaml", 8),
    ("traffic-unknown-deployment", {"m/ws.yaml": WS, "m/d.yaml": deployment("blue"),
                                    "m/e.yaml": endpoint("traffic:\n  blue: 90\n  gren: 10")},
     [], "M004", "m/e.yaml", 9),
    ("traffic-sum", {"m/ws.yaml": WS, "m/d.yaml": deployment("blue"), "m/e.yaml": endpoint("traffic:\n  blue: 90")},
     [], "M004", "m/e.yaml", 8),
    ("mirror-over-50", {"m/ws.yaml": WS, "m/b.yaml": deployment("blue"), "m/g.yaml": deployment("green"),
                        "m/e.yaml": endpoint("traffic: {blue: 100}\nmirror_traffic: {green: 60}")},
     [], "S003", "m/e.yaml", 8),
    ("mirror-to-live", {"m/ws.yaml": WS, "m/b.yaml": deployment("blue"), "m/g.yaml": deployment("green"),
                        "m/e.yaml": endpoint("traffic: {blue: 90, green: 10}\nmirror_traffic: {green: 10}")},
     [], "M005", "m/e.yaml", 8),
    ("missing-code-folder", {"m/ws.yaml": WS, "m/c.yaml": env(
        "Component", "comp", "type: command\ncommand: echo hi\ncode: ./src\nenvironment: azureml:e:1")},
     [], "M006", "m/c.yaml", 8),
    ("missing-conda-file", {"m/e.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema."
                            "json\nname: env\nimage: python:3.11\nconda_file: conda.yml\n"}, [], "M006", "m/e.yaml", 4),
    ("inline-account-key", {"m/ds.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json"
                            "\nname: ds\ntype: azure_blob\naccount_name: stdata\ncontainer_name: c\ncredentials:\n"
                            "  account_key: c2VjcmV0\n"}, [], "M007", "m/ds.yaml", 7),
    ("inline-sas-token", {"m/ds.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json"
                          "\nname: ds\ntype: azure_blob\naccount_name: stdata\ncontainer_name: c\ncredentials:\n"
                          "  sas_token: '?sv=2022&sig=abc'\n"}, [], "M007", "m/ds.yaml", 7),
    ("inline-client-secret", {"m/ds.yaml": env("Datastore", "lake", """
type: azure_data_lake_gen2
account_name: stdata
filesystem: fs
credentials:
  tenant_id: 00000000-0000-0000-0000-000000000000
  client_id: 00000000-0000-0000-0000-000000000000
  client_secret: hunter2""")}, [], "M007", "m/ds.yaml", 12),
    ("inline-ssh-password", {"m/a.yaml": CLUSTER + "  ssh_settings:\n    admin_username: u\n    admin_password: p\n"},
     [], "M007", "m/a.yaml", 11),
    ("unknown-role", {"m/ws.yaml": WS, "m/r.yaml": env("RoleAssignment", "ra", """
principal: {object_id: 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b, type: Group}
role: AzureML Data Scientists
scope: {kind: Workspace, name: mlw-test}""")}, [], "M008", "m/r.yaml", 7),
    ("cross-workspace-ref", {
        "a/ws.yaml": WS, "a/d.yaml": deployment("blue"),
        "b/ws.yaml": WS.replace("mlw-test", "mlw-other"), "b/e.yaml": endpoint("")},
     ["--skip-path-checks"], "M009", "a/d.yaml", 3),
    # --- stacks and overlays ------------------------------------------------------------------
    ("stack-bad-target", {"m/a.yaml": CLUSTER, "stacks/Pulumi.dev.yaml": "config:\n  amlctl:target: gcp\n"},
     [], "K001", "stacks/Pulumi.dev.yaml", 2),
    ("stack-unknown-setting", {"m/a.yaml": CLUSTER, "stacks/Pulumi.dev.yaml": STACK + "  amlctl:defaultWorkspce: x\n"},
     [], "K001", "stacks/Pulumi.dev.yaml", 3),
    ("overlay-selects-nothing", {"m/a.yaml": CLUSTER, "stacks/Pulumi.dev.yaml": STACK + """  amlctl:overlays:
    - select: {kind: Compute, name: gpu}
      patch: {spec: {max_instances: 4}}
"""}, [], "K002", "stacks/Pulumi.dev.yaml", 4),
    ("overlay-breaks-manifest", {"m/a.yaml": CLUSTER, "stacks/Pulumi.dev.yaml": STACK + """  amlctl:overlays:
    - select: {kind: Compute, name: cpu}
      patch:
        spec:
          max_instances: lots
"""}, [], "K003", "stacks/Pulumi.dev.yaml", 7),
    ("overlay-renames", {"m/a.yaml": CLUSTER, "stacks/Pulumi.dev.yaml": STACK + """  amlctl:overlays:
    - select: {kind: Compute, name: cpu}
      patch: {spec: {name: gpu}}
"""}, [], "K001", "stacks/Pulumi.dev.yaml", 5),
    ("exclude-selects-nothing", {"m/a.yaml": CLUSTER, "stacks/Pulumi.dev.yaml": STACK + """  amlctl:exclude:
    - {kind: Registry, name: shared}
"""}, [], "K002", "stacks/Pulumi.dev.yaml", 4),
    ("plain-value-under-amlctl", {"m/a.yaml": CLUSTER, "stacks/Pulumi.dev.yaml": STACK + """  amlctl:openaiKey: sk-plain-text
"""}, [], "K001", "stacks/Pulumi.dev.yaml", 3),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, case) -> None:
    _id, files, args, code, path, line = case
    root = write_tree(tmp_path, files)
    target = sorted({p.split("/")[0] for p in files})
    run = amlctl("validate", "--output", "json", *args, *target, cwd=root)
    assert run.code == 1, (run.out, run.err)
    assert "Traceback" not in run.err and "Traceback" not in run.out
    found = [d for d in run.json()["diagnostics"] if d["severity"] == "error"]
    matching = [d for d in found if d["code"] == code and d["path"] == path]
    assert matching, f"expected {code} at {path}; got {found}"
    if line is not None:
        assert line in [d["line"] for d in matching], f"expected line {line}; got {matching}"
    for d in found:
        assert d["message"] and d["rule"]


def test_a_refused_character_is_reported_where_it_stands(tmp_path: Path) -> None:
    for raw, col in ((b"a: 1\nb: 2\nc: 3\nd: 4\ne: \"x\x00y\"\n", 6), ("a: 1\nb: 2\nc: 3\nd: \"\u00e9\"\ne: \x1b[1m\n", 4)):
        root = write_tree(tmp_path / str(col), {"m/a.yaml": raw})
        [d] = amlctl("validate", "--output", "json", "m", cwd=root).json()["diagnostics"]
        assert (d["code"], d["line"], d["column"]) == ("Y001", 5, col), d


def test_a_bad_scalar_names_its_field(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"m/a.yaml": CLUSTER.replace("max_instances: 2", "max_instances: " + "9" * 43)})
    run = amlctl("validate", "m", cwd=root)
    assert run.code == 1 and "m/a.yaml:8:18: error[Y014]" in run.out and "spec.max_instances" in run.out


def test_there_are_at_least_40_cases() -> None:
    assert len(CASES) >= 40


def test_symlink_leaving_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("secret: 1\n")
    root = write_tree(tmp_path / "repo", {"m/a.yaml": CLUSTER})
    os.symlink(outside, root / "m" / "link.yaml")
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    assert run.code == 1
    d = [d for d in run.json()["diagnostics"] if d["code"] == "Y011"]
    assert d and d[0]["path"] == "m/link.yaml"


def test_path_argument_outside_the_repository_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"m/a.yaml": CLUSTER})
    write_tree(tmp_path / "elsewhere", {"x.yaml": CLUSTER})
    run = amlctl("validate", "--output", "json", "../elsewhere", cwd=root)
    assert run.code == 1 and [d for d in run.json()["diagnostics"] if d["code"] == "Y011"]


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"m/a.yaml": CLUSTER})
    run = amlctl("validate", "nope", cwd=root)
    assert run.code == 2 and "no such file or folder: nope" in run.err and "Traceback" not in run.err


def test_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"m/a.yaml": CLUSTER})
    run = amlctl("validate", "--output", "xml", "m", cwd=root)
    assert run.code == 2 and "Traceback" not in run.err


def test_secret_values_never_appear_in_output(tmp_path: Path) -> None:
    files = dict(CASES[[c[0] for c in CASES].index("inline-client-secret")][1])
    root = write_tree(tmp_path, files)
    for fmt in ("text", "json", "github", "sarif"):
        run = amlctl("validate", "--output", fmt, "m", cwd=root)
        assert run.code == 1
        assert "hunter2" not in run.out + run.err


def test_all_errors_are_reported_not_only_the_first(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {
        "m/a.yaml": CLUSTER.replace("max_instances", "max_instance"),
        "m/b.yaml": "a: [1\n",
        "m/c.yaml": CLUSTER.replace("name: cpu", "name: 9x"),
    })
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    codes = [(d["path"], d["code"]) for d in run.json()["diagnostics"]]
    assert codes == [("m/a.yaml", "S004"), ("m/b.yaml", "Y001"), ("m/c.yaml", "S003")]
