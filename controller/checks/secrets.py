"""Credentials in the shapes they hide in, and the one rule for a Key Vault secret URI.

A schema marks the fields that *are* credentials (`x-amlctl-secret`); the checks report those when
they are written inline. Credentials also travel inside ordinary values, and no schema can mark
those: a SAS token in a URL's query (`?sv=...&sig=...`), a password in a URL's user-info
(`https://user:pass@host`), a key in a connection string (`AccountKey=...;`), a free-form mapping
whose key names a credential (a connection's `metadata: {api_key: ...}`, an environment variable
`AZURE_OPENAI_API_KEY: ...`). `scan` finds all of them with one rule, `names_credential`, applied
to mapping keys, query keys and connection-string keys alike. It reports where and what shape,
never the value.

`key_vault_secret` is the one parser of `{key_vault_secret: URI}`, used by validate (M010) and by
the deploy-time reader (controller.program.keyvault) before it asks for a token: the token goes
only to a Key Vault of a known Azure cloud.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

# --- Key Vault secret URIs ----------------------------------------------------------------------

# The Key Vault DNS suffixes of the Azure clouds (public, China, US Government, Germany). Managed
# HSM (*.managedhsm.azure.net) is left out on purpose: it holds keys only, never secrets, so a
# /secrets/ URI there names nothing the reader could read.
KEY_VAULT_SUFFIXES = ("vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net", "vault.microsoftazure.de")
SHAPE = "https://VAULT.vault.azure.net/secrets/NAME[/VERSION]"

# Exactly: https, one DNS label (the vault's name), one of the suffixes, /secrets/NAME (letters,
# digits and '-') and an optional version. Nothing else fits: no user-info, no port, no query, no
# percent-escapes, no trailing dot, no second label before the suffix.
_URI = re.compile(r"https://(?P<vault>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)\.(?P<suffix>[A-Za-z0-9.-]+)"
                  r"/secrets/(?P<name>[A-Za-z0-9-]{1,127})(?:/(?P<version>[A-Za-z0-9]*))?")


class NotAKeyVaultSecret(ValueError):
    """Why a value is not a Key Vault secret URI. The message never repeats the URI: its user-info
    could hold a password."""


@dataclass(frozen=True)
class VaultSecret:
    vault: str  # https://NAME.SUFFIX
    name: str
    version: str  # "" for the current version
    suffix: str  # the cloud's Key Vault suffix, lower case

    @property
    def scope(self) -> str:
        """The token audience: the cloud's Key Vault resource."""
        return f"https://{self.suffix}/.default"


def key_vault_secret(uri: Any) -> VaultSecret:
    """The secret a `key_vault_secret` URI names; NotAKeyVaultSecret saying why when it is anything
    but a secret of a Key Vault of a known Azure cloud."""
    m = _URI.fullmatch(uri) if isinstance(uri, str) else None
    suffix = m.group("suffix").lower() if m else ""
    if m and suffix in KEY_VAULT_SUFFIXES:
        return VaultSecret(f"https://{m.group('vault')}.{m.group('suffix')}", m.group("name"),
                           m.group("version") or "", suffix)
    raise NotAKeyVaultSecret(f"not a Key Vault secret URI ({SHAPE}): {_why(uri)}")


def _why(uri: Any) -> str:
    if not isinstance(uri, str):
        return "it is not a string"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "it is not a URL"
    if parts.scheme.lower() != "https":
        return f"it must use https, not {parts.scheme + ':' if parts.scheme else 'no scheme'}"
    if "@" in parts.netloc:
        return "it must not carry user-info (user:password@) before the host"
    if port is not None or parts.netloc.endswith(":"):
        return "it must not name a port"
    host = (parts.hostname or "").lower()
    if not any(host.endswith("." + s) for s in KEY_VAULT_SUFFIXES):
        return (f"its host {host!r} is not a Key Vault of a known Azure cloud "
                f"({', '.join('*.' + s for s in KEY_VAULT_SUFFIXES)})")
    suffix = next(s for s in KEY_VAULT_SUFFIXES if host.endswith("." + s))
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", host[:-len(suffix) - 1]):
        return f"its host {host!r} must be one vault name before .{suffix}"
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        return "it must not carry a query or a fragment"
    return "its path must be /secrets/NAME or /secrets/NAME/VERSION (letters, digits and '-')"


# --- credentials inside values ------------------------------------------------------------------

# A name is a credential's when its last word is one of these (api_key, AccountKey, client_secret,
# SharedAccessSignature, sig, sas_token, AZURE_OPENAI_API_KEY, --password) ...
_LAST = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "token", "sig", "signature", "apikey",
                   "accesskey", "accountkey", "sharedaccesskey", "credential"})
# ... or when it ends in "key" after one of these (a dataset's `label_key` or `partition_key` is not).
_KEY_AFTER = frozenset({"api", "access", "account", "shared", "private", "secret", "master", "subscription",
                        "storage", "sas", "function", "host", "client"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@lru_cache(maxsize=4096)
def names_credential(name: str) -> bool:
    """Whether a key (of a mapping, a URL query or a connection string) names a credential."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words:
        return False
    return words[-1] in _LAST or (words[-1] == "key" and len(words) > 1 and words[-2] in _KEY_AFTER)


# Values that stand for a credential without being one: bindings and variables resolved elsewhere,
# placeholders of templates and docs.
_NOT_A_VALUE = re.compile(r"""^(
    \$\{\{.*\}\} | \$\{.*\} | \$\(.*\) | \$[A-Za-z_][A-Za-z0-9_]* | %[A-Za-z_][A-Za-z0-9_]*% |  # ${{inputs.x}} ${X} $(X) $X %X%
    \{\{.*\}\} | <.*> | \[.*\] | \*+ | x+ | \.\.\.                                             # {{X}} <your-key> [CLS] *** xxx ...
)$""", re.X | re.I)
_NUMBER_OR_WORD = re.compile(r"^([-+]?[0-9][0-9_.]*|true|false|yes|no|null|none)$", re.I)


def _is_credential_value(value: Any) -> bool:
    """Whether a value under a credential's name is the credential itself, written inline."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return False
    text = str(value).strip()
    if not text or _NOT_A_VALUE.match(text) or _NUMBER_OR_WORD.match(text):
        return False  # a count (max_token: 100), a flag, a placeholder or a binding
    if text.startswith("azureml:"):
        return False
    try:
        key_vault_secret(text)
        return False  # a reference to the secret, not the secret
    except NotAKeyVaultSecret:
        return True


_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#@\s]*)@")
# name=value pairs of a URL query (?a=1&sig=...), a connection string (a=1;AccountKey=...) or a
# command line (--password=...).
_PAIR = re.compile(r"(?:^|[?&;\s])-{0,2}([A-Za-z][A-Za-z0-9_.-]*)\s*=\s*([^&;\s#'\"]*)")


def shapes(text: str) -> list[str]:
    """The credentials written inside a string value, described by shape (never by value)."""
    out: list[str] = []
    if "@" in text:
        for m in _USERINFO.finditer(text):
            _, colon, password = m.group(1).partition(":")
            if colon and _is_credential_value(unquote(password)):
                out.append("a password in a URL's user-info (user:password@host)")
    if "=" in text:
        for m in _PAIR.finditer(text):
            name, value = m.group(1), m.group(2)
            if names_credential(name) and _is_credential_value(unquote(value)):
                where = "a URL's query" if m.group(0)[:1] in ("?", "&") else "a connection string"
                out.append(f"a credential in {where} ({name}=...)")
    return list(dict.fromkeys(out))


REFERENCE_KEYS = ("secret_config", "key_vault_secret")


def is_reference(value: Any) -> bool:
    """{secret_config: KEY} or {key_vault_secret: URI}: where a secret comes from, not a secret."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in REFERENCE_KEYS


@dataclass(frozen=True)
class Found:
    path: tuple  # spec path of the value
    what: str  # the shape, for the message


def scan(value: Any, path: tuple = ()) -> Iterator[Found]:
    """Every credential written inline anywhere in a value (a manifest's spec): values under a
    credential's name, and credentials inside strings. References to secrets are skipped (their
    URIs are checked by key_vault_secret)."""
    if is_reference(value):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            here = path + (k,)
            if isinstance(k, str) and names_credential(k) and _is_credential_value(v):
                yield Found(here, f"{k!r} names a credential, and its value is written inline")
            else:
                yield from scan(v, here)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from scan(v, path + (i,))
    elif isinstance(value, str):
        for what in shapes(value):
            yield Found(path, what)


def references(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str, Any]]:
    """(path of the reference, its key, its value) of every {secret_config}/{key_vault_secret} in a value."""
    if is_reference(value):
        (key, ref), = value.items()
        yield path, key, ref
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from references(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from references(v, path + (i,))
