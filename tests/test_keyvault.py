"""`{key_vault_secret: URI}`: read from Key Vault's data plane at deploy time, into a Pulumi secret.

The reader runs against a stand-in HTTP session (no Azure here); the program runs under Pulumi's
own mocks, in a process of its own (the mock state is process-global)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from azure.core.pipeline.transport import RequestsTransport

from azure_http import Credential as VaultCredential, response
from conftest import REPO

from controller.program import keyvault

URI = "https://kv-ml.vault.azure.net/secrets/openai-key"


class Session(requests.Session):
    """Answers every request with one status and JSON body, and keeps what was asked."""

    def __init__(self, status: int, body: dict):
        super().__init__()
        self.status, self.body, self.calls = status, body, []

    def request(self, method, url, **kw):  # noqa: D401 - requests' own signature
        self.calls.append((method, url, dict(kw.get("headers") or {})))
        return response(method, url, self.status, self.body)


def Credential() -> VaultCredential:
    return VaultCredential("token-for-the-vault")


def test_reads_the_current_value_with_a_token_for_the_vault():
    session, credential = Session(200, {"value": "s3cret", "id": URI + "/v1"}), Credential()
    assert keyvault.read(URI, credential=credential, transport=RequestsTransport(session=session)) == "s3cret"
    (method, url, headers), = session.calls
    assert (method, url) == ("GET", URI + "?api-version=7.4")
    assert headers["Authorization"] == "Bearer token-for-the-vault"
    assert credential.scopes == [("https://vault.azure.net/.default",)]


def test_a_pinned_version_and_a_sovereign_cloud():
    session, credential = Session(200, {"value": "v"}), Credential()
    uri = "https://kv-cn.vault.azure.cn/secrets/key/0123abcd"
    keyvault.read(uri, credential=credential, transport=RequestsTransport(session=session))
    assert session.calls[0][1] == uri + "?api-version=7.4"
    assert credential.scopes == [("https://vault.azure.cn/.default",)]


def test_refusals_name_the_secret_and_the_role_never_a_value():
    session = Session(403, {"error": {"code": "Forbidden", "message": "Caller is not authorized to perform action"}})
    with pytest.raises(keyvault.KeyVaultError) as e:
        keyvault.read(URI, credential=Credential(), transport=RequestsTransport(session=session))
    assert URI in str(e.value) and "HTTP 403" in str(e.value) and "Key Vault Secrets User" in str(e.value)
    with pytest.raises(keyvault.KeyVaultError, match="not a Key Vault secret URI"):
        keyvault.read("https://kv-ml.vault.azure.net/keys/k", credential=Credential())


RUNNER = r'''
import json, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
import pulumi

seen = []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        seen.append({{"name": args.name, "inputs": args.inputs}})
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {{}}

pulumi.runtime.set_mocks(Mocks(), project="amlctl-estate", stack="dev", preview=False)

from controller.program import build
from controller.render.graph import Graph, Resource

uri = {uri!r}
key = {{"$secret": {{"keyVault": uri}}}}
graph = Graph("dev", tuple(Resource(name, "azure-native:machinelearningservices:WorkspaceConnection", {{
    "connectionName": name, "resourceGroupName": "rg", "workspaceName": "ws",
    "properties": {{"authType": "ApiKey", "category": "AzureOpenAI", "target": "https://aoai.example",
                   "credentials": {{"key": key}}}}}}, "Connection/" + name) for name in ("a", "b")))
reads = []

def reader(u):
    reads.append(u)
    return "value-from-key-vault"

@pulumi.runtime.test
def run():
    created = build(graph, Path({repo!r}), secret_reader=reader)
    return pulumi.Output.all(*[r.urn for r in created.values()])

run()
print(json.dumps({{"seen": seen, "reads": reads}}, default=str))
'''


def test_the_program_puts_the_value_into_a_pulumi_secret_reading_each_uri_once():
    p = subprocess.run([sys.executable, "-c", RUNNER.format(repo=str(REPO), uri=URI)], capture_output=True,
                       text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["reads"] == [URI]  # two connections, one read
    assert len(out["seen"]) == 2
    for resource in out["seen"]:
        # The secret makes the whole `properties` input a Pulumi secret on the wire.
        properties = resource["inputs"]["properties"]
        assert properties["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
        assert properties["value"]["credentials"]["key"] == "value-from-key-vault"


def test_the_local_target_reads_no_key_vault():
    from controller.engine import local
    assert local.key_vault_secret(URI) == local.key_vault_secret(URI) and "local-simulation" in local.key_vault_secret(URI)
