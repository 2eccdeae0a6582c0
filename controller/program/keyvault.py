"""A Key Vault secret's value, read at deploy time for a manifest's `{key_vault_secret: URI}`.

Azure Resource Manager never returns a secret's value (on the management plane secrets are
write-only), so this is Key Vault's data plane: `GET {vault}/secrets/{name}[/{version}]`, with a
token for the vault from the same credential chain as the deployment (OIDC in CI, `az login` at a
desk). The value goes straight into a Pulumi secret: it is never logged, planned or stored in clear.
"""
from __future__ import annotations

import re
from typing import Any

API_VERSION = "7.4"
_URI = re.compile(r"^(https://[^/.]+\.[^/]+)/secrets/([^/]+)(?:/([^/]*))?$")


class KeyVaultError(Exception):
    """The secret cannot be read; the message names the URI and why (never a value)."""


def parse(uri: str) -> tuple[str, str, str]:
    """(vault URL, secret name, version or "" for the current one)."""
    m = _URI.match(uri)
    if not m:
        raise KeyVaultError(f"{uri!r} is not a Key Vault secret URI (https://VAULT.vault.azure.net/secrets/NAME[/VERSION])")
    return m.group(1), m.group(2), m.group(3) or ""


def read(uri: str, credential: Any = None, transport: Any = None) -> str:
    """The secret's current (or pinned) value. `credential` defaults to DefaultAzureCredential;
    tests pass a credential and an azure-core transport of their own."""
    from azure.core import PipelineClient
    from azure.core.exceptions import AzureError
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
    from azure.core.rest import HttpRequest

    vault, name, version = parse(uri)
    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    # The token's audience is the vault's cloud: vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net...
    scope = f"https://{vault.split('://', 1)[1].split('.', 1)[1]}/.default"
    client = PipelineClient(base_url=vault, transport=transport,
                            policies=[RetryPolicy(), BearerTokenCredentialPolicy(credential, scope)])
    path = f"/secrets/{name}" + (f"/{version}" if version else "")
    try:
        response = client.send_request(HttpRequest("GET", vault + path, params={"api-version": API_VERSION}))
    except AzureError as exc:  # no network, no credential: say which secret, not a stack trace
        raise KeyVaultError(f"cannot read {uri}: {exc.message if hasattr(exc, 'message') else exc}") from None
    if response.status_code != 200:
        try:
            why = response.json().get("error", {}).get("message", "")
        except ValueError:
            why = response.text()[:200]
        raise KeyVaultError(f"cannot read {uri}: HTTP {response.status_code}" + (f": {why}" if why else "")
                            + (" (the deploying identity needs the Key Vault Secrets User role)"
                               if response.status_code == 403 else ""))
    value = response.json().get("value")
    if not isinstance(value, str):
        raise KeyVaultError(f"cannot read {uri}: the response carries no value")
    return value
