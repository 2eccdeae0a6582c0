"""Issue 17, secrets at validate time: credentials in every shape they hide in (M007), Key Vault
hosts only (M010, and the deploy-time reader refuses the same URIs before it asks for a token),
and secret_config keys a stack does not set (K004, in validate and in plan). Bad input runs the
real CLI; the shared rules are unit-tested through their Python API."""
from __future__ import annotations

import pytest

from conftest import WS, amlctl, git, git_estate, write_tree



def connection(body: str) -> str:
    return "$schema: https://azuremlschemas.azureedge.net/latest/connection.schema.json\n" + body


DEPLOYMENT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: scoring
model: azureml:m:1
environment: azureml:e:1
instance_type: Standard_DS3_v2
instance_count: 1
"""

# (id, file body, line of the error, the secret value that must appear in no output)
SECRET_SHAPES = [
    ("sas-token-in-a-url", connection(
        "name: feed\ntype: python_feed\n"
        "target: https://st.blob.core.windows.net/feed?sv=2022-11-02&ss=b&sp=r&sig=Zm9vYmFyU2lnTmF0dXJl%3D\n"),
     4, "Zm9vYmFyU2lnTmF0dXJl"),
    ("other-sas-key-in-a-url", connection(
        "name: fn\ntype: custom\ntarget: https://fn.azurewebsites.net/api/x?api-key=K3yInTh3Qu3ry\n"
        "credentials:\n  type: none\n"), 4, "K3yInTh3Qu3ry"),
    ("password-in-url-user-info", connection(
        "name: repo\ntype: git\ntarget: https://builder:Hunter2Pass@dev.azure.com/contoso/ml/_git/ml\n"),
     4, "Hunter2Pass"),
    ("secret-in-connection-metadata", connection(
        "name: svc\ntype: custom\ntarget: https://svc.example.com\nmetadata:\n  region: westeurope\n"
        "  api_key: MetaDataS3cret\ncredentials:\n  type: none\n"), 7, "MetaDataS3cret"),
    ("account-key-in-connection-string-target", connection(
        "name: blob\ntype: custom\ntarget: DefaultEndpointsProtocol=https;AccountName=st;"
        "AccountKey=QWNjb3VudEtleVZhbHVl;EndpointSuffix=core.windows.net\ncredentials:\n  type: none\n"),
     4, "QWNjb3VudEtleVZhbHVl"),
    ("password-in-connection-string-target", connection(
        "name: sql\ntype: custom\ntarget: 'Server=tcp:sql.database.windows.net;User ID=ml;Password=SqlPa55word;'\n"
        "credentials:\n  type: none\n"), 4, "SqlPa55word"),
    ("shared-access-key-in-metadata", connection(
        "name: bus\ntype: custom\ntarget: https://bus.servicebus.windows.net\nmetadata:\n  connection: "
        "Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=U2hhcmVkS2V5\n"
        "credentials:\n  type: none\n"), 6, "U2hhcmVkS2V5"),
    ("api-key-in-an-environment-variable", DEPLOYMENT + "environment_variables:\n  LOG_LEVEL: info\n"
     "  AZURE_OPENAI_API_KEY: abc123xyz789\n", 10, "abc123xyz789"),
    # An envelope's labels and annotations become Azure tags.
    ("token-in-an-envelope-label", "apiVersion: amlctl.dev/v1alpha1\nkind: Compute\nmetadata:\n  name: cpu\n"
     "  labels:\n    team: risk\n    access_token: L4b3lT0k3nValue\nspec:\n  type: amlcompute\n"
     "  size: Standard_DS3_v2\n", 7, "L4b3lT0k3nValue"),
]


@pytest.mark.parametrize("case", SECRET_SHAPES, ids=[c[0] for c in SECRET_SHAPES])
def test_a_secret_in_any_shape_is_refused_without_being_shown(tmp_path, case) -> None:
    _id, body, line, value = case
    root = write_tree(tmp_path, {"m/ws.yaml": WS, "m/x.yaml": body})
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    assert run.code == 1, (run.out, run.err)
    found = [d for d in run.json()["diagnostics"] if d["code"] == "M007"]
    assert [(d["path"], d["line"]) for d in found] == [("m/x.yaml", line)], found
    text = amlctl("validate", "m", cwd=root)
    for out in (run.out, run.err, text.out, text.err):
        assert value not in out
        assert "Traceback" not in out and "internal error" not in out
    assert "m/x.yaml:" in text.out and "M007" in text.out


def test_a_token_in_a_conda_files_pip_index_url_is_refused(tmp_path) -> None:
    env = ("$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: env\n"
           "image: python:3.11\nconda_file: conda.yml\n")
    conda = ("name: env\ndependencies:\n  - pip\n  - pip:\n    - --extra-index-url https://build:PipT0kenValue@"
             "pkgs.dev.azure.com/contoso/_packaging/ml/pypi/simple/\n    - pandas\n")
    root = write_tree(tmp_path, {"m/ws.yaml": WS, "m/env.yaml": env, "m/conda.yml": conda})
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    assert run.code == 1 and "PipT0kenValue" not in run.out + run.err
    found = [(d["code"], d["path"], d["line"]) for d in run.json()["diagnostics"] if d["severity"] == "error"]
    assert found == [("M007", "m/conda.yml", 5)], found


def test_what_only_looks_like_a_secret_passes(tmp_path) -> None:
    # A user name alone in a URL, placeholders, bindings, a dataset's key column and a token count.
    root = write_tree(tmp_path, {"m/ws.yaml": WS, "m/x.yaml": connection(
        "name: repo\ntype: git\ntarget: https://git@github.com/contoso/ml.git\n"), "m/d.yaml": DEPLOYMENT +
        "environment_variables:\n  OPENAI_API_KEY: <your-api-key>\n  HF_TOKEN: ${{secrets.hf}}\n"
        "  label_key: label\n  max_token: '512'\n  KV_URI: https://kv.vault.azure.net/secrets/k\n"})
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    assert [d for d in run.json()["diagnostics"] if d["code"] == "M007"] == []


def test_the_value_is_in_no_output_of_any_format(tmp_path) -> None:
    root = write_tree(tmp_path, {"m/ws.yaml": WS, "m/x.yaml": SECRET_SHAPES[0][1]})
    for fmt in ("text", "json", "github", "sarif", "azure-pipelines"):
        run = amlctl("validate", "--output", fmt, "m", cwd=root)
        assert run.code == 1 and SECRET_SHAPES[0][3] not in run.out + run.err


# -- Key Vault hosts --------------------------------------------------------------------------------

def key_connection(uri: str) -> str:
    return connection(f"name: svc\ntype: custom\ntarget: https://svc.example.com\ncredentials:\n  type: api_key\n"
                      f"  key:\n    key_vault_secret: '{uri}'\n")


BAD_VAULT_URIS = [
    ("not-a-vault-host", "https://evil.example.com/secrets/x"),
    ("vault-suffix-then-another-host", "https://kv.vault.azure.net.evil.example.com/secrets/x"),
    ("user-info-before-the-host", "https://kv.vault.azure.net@evil.example.com/secrets/x"),
    ("credentials-in-user-info", "https://u:Pa55w0rdInUri@kv.vault.azure.net/secrets/x"),
    ("a-port", "https://kv.vault.azure.net:8443/secrets/x"),
    ("plain-http", "http://kv.vault.azure.net/secrets/x"),
    ("a-query", "https://kv.vault.azure.net/secrets/x?redirect=https://evil.example.com"),
    ("a-fragment-hiding-the-host", "https://evil.example.com#.vault.azure.net/secrets/x"),
    ("keys-not-secrets", "https://kv.vault.azure.net/keys/x"),
    ("managed-hsm-holds-no-secrets", "https://hsm.managedhsm.azure.net/secrets/x"),
    ("two-labels-before-the-suffix", "https://a.b.vault.azure.net/secrets/x"),
]


@pytest.mark.parametrize("case", BAD_VAULT_URIS, ids=[c[0] for c in BAD_VAULT_URIS])
def test_a_key_vault_secret_must_name_a_key_vault(tmp_path, case) -> None:
    _id, uri = case
    root = write_tree(tmp_path, {"m/ws.yaml": WS, "m/x.yaml": key_connection(uri)})
    run = amlctl("validate", "--output", "json", "m", cwd=root)
    assert run.code == 1, (run.out, run.err)
    found = [d for d in run.json()["diagnostics"] if d["severity"] == "error"]
    assert [(d["code"], d["path"], d["line"]) for d in found] == [("M010", "m/x.yaml", 8)], found
    assert "key_vault_secret" in found[0]["message"] and "Traceback" not in run.err
    assert "Pa55w0rdInUri" not in run.out + run.err


@pytest.mark.parametrize("uri, scope", [
    ("https://kv-ml.vault.azure.net/secrets/openai-key", "https://vault.azure.net/.default"),
    ("https://kv.vault.azure.cn/secrets/key/0123abcd", "https://vault.azure.cn/.default"),
    ("https://kv.vault.usgovcloudapi.net/secrets/key/", "https://vault.usgovcloudapi.net/.default"),
    ("https://kv.vault.microsoftazure.de/secrets/key", "https://vault.microsoftazure.de/.default"),
    ("https://KV-ML.Vault.Azure.NET/secrets/key", "https://vault.azure.net/.default"),
])
def test_the_key_vaults_of_every_azure_cloud_are_accepted(uri, scope) -> None:
    from controller.checks import secrets
    assert secrets.key_vault_secret(uri).scope == scope


class _Recorder:
    """A credential and a transport that record being asked: neither may be, for a bad URI."""

    def __init__(self) -> None:
        self.calls: list = []

    def get_token(self, *scopes, **kw):
        self.calls.append(("token", scopes))
        raise AssertionError("a token was asked for")

    def send(self, request, **kw):
        self.calls.append(("send", request.url))
        raise AssertionError("a request was sent")


@pytest.mark.parametrize("uri", [u for _, u in BAD_VAULT_URIS])
def test_the_reader_refuses_before_asking_for_a_token(uri) -> None:
    from controller.program import keyvault
    recorder = _Recorder()
    with pytest.raises(keyvault.KeyVaultError, match="not a Key Vault secret URI") as e:
        keyvault.read(uri, credential=recorder, transport=recorder)
    assert recorder.calls == [] and "Pa55w0rdInUri" not in str(e.value)


# -- secret_config keys a stack does not set --------------------------------------------------------

def _without_the_local_key(root) -> None:
    path = root / "stacks" / "Pulumi.local.yaml"
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("  amlctl:openaiKey:"))
    path.write_text("".join(lines[:at] + lines[at + 2:]))


def test_validate_names_the_stack_and_how_to_set_an_unset_secret(tmp_path) -> None:
    root = git_estate(tmp_path)
    _without_the_local_key(root)
    run = amlctl("validate", "--output", "json", cwd=root)
    assert run.code == 1, (run.out, run.err)
    errors = [d for d in run.json()["diagnostics"] if d["severity"] == "error"]
    # Both connections of the estate take their key from amlctl:openaiKey: each is named.
    assert sorted((d["code"], d["path"], d["stack"]) for d in errors) == [
        ("K004", "manifests/genai/connection.yaml", "local"), ("K004", "manifests/platform/connection.yaml", "local")]
    [d] = [d for d in errors if d["path"] == "manifests/platform/connection.yaml"]
    assert d["line"] == 13
    assert "api_key.secret_config" in d["message"] and "amlctl:openaiKey" in d["message"]
    assert "amlctl pulumi --stack local -- config set --secret amlctl:openaiKey" in d["message"]


def test_plan_refuses_an_unset_secret_with_the_same_diagnostic(tmp_path) -> None:
    root = git_estate(tmp_path)
    _without_the_local_key(root)
    git(root, "commit", "-qam", "drop the key")
    run = amlctl("plan", "--stack", "local", "--from-scratch", cwd=root)
    assert run.code == 1, (run.out, run.err)
    assert "manifests/platform/connection.yaml:13:" in run.err and "K004" in run.err
    assert "config set --secret amlctl:openaiKey" in run.err and "Traceback" not in run.err


def test_a_past_revision_is_not_held_to_the_working_trees_secrets(tmp_path) -> None:
    """The engine reads secrets from the working tree's stack files: a base revision that lacked a
    key does not stop the plan of the change that sets it."""
    root = git_estate(tmp_path)
    stack = root / "stacks" / "Pulumi.local.yaml"
    with_key = stack.read_text()
    _without_the_local_key(root)
    git(root, "commit", "-qam", "the key went missing")
    stack.write_text(with_key)
    run = amlctl("plan", "--stack", "local", cwd=root)
    assert run.code == 0, (run.out, run.err)


def test_a_key_without_namespace_is_the_projects(tmp_path) -> None:
    root = git_estate(tmp_path)
    conn = root / "manifests" / "platform" / "connection.yaml"
    conn.write_text(conn.read_text().replace("secret_config: amlctl:openaiKey", "secret_config: openaiKey"))
    run = amlctl("validate", "--output", "json", cwd=root)
    [d] = [d for d in run.json()["diagnostics"] if d["code"] == "K004"]
    assert "config set --secret amlctl-estate:openaiKey" in d["message"] and d["stack"] == "local"
