"""A Key Vault secret's value, read at deploy time for a manifest's `{key_vault_secret: URI}`.

Azure Resource Manager never returns a secret's value (on the management plane secrets are
write-only), so this is Key Vault's data plane: `GET {vault}/secrets/{name}[/{version}]`, with a
token for the vault from the same credential chain as the deployment (OIDC in CI, `az login` at a
desk). The value goes straight into a Pulumi secret: it is never logged, planned or stored in clear.
"""
from __future__ import annotations

from typing import Any

from controller.checks.secrets import NotAKeyVaultSecret, VaultSecret, key_vault_secret

API_VERSION = "7.4"


class KeyVaultError(Exception):
    """The secret cannot be read; the message names the URI and why (never a value)."""


def parse(uri: str) -> VaultSecret:
    """The secret a URI names, by the same rule validate applies (M010): a Key Vault of a known
    Azure cloud, https, no user-info, no port. Anything else is refused here, before a token is
    asked for, so the deploying identity's token never goes to another host."""
    try:
        return key_vault_secret(uri)
    except NotAKeyVaultSecret as exc:
        raise KeyVaultError(f"{exc}; no token was asked for") from None


def read(uri: str, credential: Any = None, transport: Any = None) -> str:
    """The secret's current (or pinned) value. `credential` defaults to DefaultAzureCredential;
    tests pass a credential and an azure-core transport of their own."""
    from azure.core import PipelineClient
    from azure.core.exceptions import AzureError
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
    from azure.core.rest import HttpRequest

    secret = parse(uri)  # first: nothing below runs for a host that is not a Key Vault
    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    # The token's audience is the vault's cloud: vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net...
    client = PipelineClient(base_url=secret.vault, transport=transport,
                            policies=[RetryPolicy(), BearerTokenCredentialPolicy(credential, secret.scope)])
    path = f"/secrets/{secret.name}" + (f"/{secret.version}" if secret.version else "")
    try:
        response = client.send_request(HttpRequest("GET", secret.vault + path, params={"api-version": API_VERSION}))
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
