"""Credentials in the shapes they hide in, and the one rule for a Key Vault secret URI.

A schema marks the fields that *are* credentials (`x-amlctl-secret`); the checks report those when
they are written inline. Credentials also travel inside ordinary values, and no schema can mark
those: a SAS token in a URL's query (`?sv=...&sig=...`), a password in a URL's user-info
(`https://user:pass@host`), a key in a connection string (`AccountKey=...;`), a free-form mapping
whose key names a credential (a connection's `metadata: {api_key: ...}`, an environment variable
`AZURE_OPENAI_API_KEY: ...`). `scan` finds all of them with one rule, `names_credential`, applied
to mapping keys, query keys and connection-string keys alike. It reports where and what shape,
never the value.

Environment variables (`environment_variables` of deployments, jobs, pipeline steps, components and
prompt flows) are held to a wider rule, `names_environment_credential`: code reads a credential
from a variable named for it (`OPENAI_KEY`, `DB_PASSWORD`, `STORAGE_CONNECTION_STRING`), and their
values can hold no secret reference (the schemas take only strings, numbers and booleans there), so
each finding there says what to do instead, for the kind it is in (`environment_hint`).

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


# Values that stand for a credential without being one: bindings and variables resolved elsewhere
# (`${{azureml://connections/c/credentials/key}}` and `${{keyvault:https://...}}` are Azure ML's own
# secret injection), placeholders of templates and docs. A placeholder (`<your-api-key>`, `{{KEY}}`,
# `***`) is accepted on purpose: it holds no credential, so nothing leaks, which is what M007 is
# about; it is how the docs and templates write these values (azureml-examples' prompt-flow pipeline
# sets `AZURE_OPENAI_API_KEY: <your-api-key>`), and what reaches Azure is the placeholder's text,
# which fails when the job uses it, not a secret from git.
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
    hint: str = ""  # what to do instead, when it differs from the schemas' secretValue advice


def scan(value: Any, path: tuple = (), kind: str = "") -> Iterator[Found]:
    """Every credential written inline anywhere in a value (a manifest's spec, of kind `kind`):
    values under a credential's name, and credentials inside strings. References to secrets are
    skipped (their URIs are checked by key_vault_secret)."""
    if is_reference(value):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            here = path + (k,)
            if k == ENVIRONMENT_VARIABLES and isinstance(v, dict):
                yield from _environment_variables(v, here, kind)
            elif isinstance(k, str) and names_credential(k) and _is_credential_value(v):
                yield Found(here, f"{k!r} names a credential, and its value is written inline")
            else:
                yield from scan(v, here, kind)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from scan(v, path + (i,), kind)
    elif isinstance(value, str):
        for what in shapes(value):
            yield Found(path, what)


# --- environment variables ----------------------------------------------------------------------

ENVIRONMENT_VARIABLES = "environment_variables"
# A variable named *_KEY holds a credential unless the word before names a key that is plain data:
# a table's partition or sort key, a dataset's label key, a public key, an Application Insights
# instrumentation key ("Ikey unique identifiers aren't security tokens or security keys, and aren't
# considered secrets": learn.microsoft.com/azure/azure-monitor/app/connection-strings).
_PLAIN_KEY = frozenset({"partition", "sort", "label", "public", "row", "column", "group", "join", "lookup",
                        "index", "cache", "hash", "feature", "target", "foreign", "order", "instrumentation"})
_PASSWORD = ("password", "passwd", "passphrase")
# DB_PASSWORD_FILE names the file that holds the password (the Docker secrets convention), not it.
_POINTS_AT = frozenset({"file", "path", "dir"})
# The shell's working folders, whose name is names_credential's "pwd".
_SHELL = frozenset({"PWD", "OLDPWD"})


@lru_cache(maxsize=4096)
def names_environment_credential(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential: *_KEY, *_SECRET, *_TOKEN,
    *PASSWORD*, a connection string (*CONNECTION_STRING*, *CONN_STR*), or what names_credential
    says of any key."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words or name in _SHELL:
        return False
    joined = "".join(words)
    return (names_credential(name)
            or (words[-1] == "key" and len(words) > 1 and words[-2] not in _PLAIN_KEY)
            or (any(p in joined for p in _PASSWORD) and words[-1] not in _POINTS_AT)
            or "connectionstring" in joined or "connstr" in joined)


def _is_environment_credential(name: str, value: Any) -> bool:
    if not (names_environment_credential(name) and _is_credential_value(value)):
        return False
    text = str(value)
    # An Application Insights connection string (InstrumentationKey=...;IngestionEndpoint=...)
    # carries no secret (see _PLAIN_KEY); one with a credential in it is found by `shapes`.
    return not ("InstrumentationKey=" in text and not shapes(text))


def _environment_variables(variables: dict, path: tuple, kind: str) -> Iterator[Found]:
    hint = environment_hint(kind)
    for name, value in variables.items():
        here = path + (name,)
        if isinstance(name, str) and _is_environment_credential(name, value):
            yield Found(here, f"{name!r} names a credential, and its value is written inline", hint)
        else:
            for found in scan(value, here, kind):  # a key inside a connection string, a password in a URL
                yield Found(found.path, found.what, found.hint or hint)


def environment_hint(kind: str) -> str:
    """What to do instead of a credential in an environment variable of a `kind` manifest. Only real
    options: the schemas take no {secret_config}/{key_vault_secret} in a variable's value."""
    plain = ("an environment variable's value is sent to Azure as written (it takes only strings, numbers and "
             "booleans, so no {secret_config: ...} or {key_vault_secret: ...} here)")
    connection = ("a Connection manifest holding the credential as {secret_config: 'amlctl:<key>'} or "
                  "{key_vault_secret: '<secret URI>'}")
    if kind == "OnlineDeployment":
        # Secret injection: learn.microsoft.com/azure/machine-learning/concept-secret-injection
        # (how-to-deploy-online-endpoint-with-secret-injection: the value patterns the endpoint's
        # identity resolves when the deployment starts).
        return (f"{plain}; write the variable as Azure ML's secret injection reference, read with the endpoint's "
                "identity when the deployment starts (preview): ${{azureml://connections/<connection>/credentials/"
                f"<name>}}}} of {connection}, or ${{{{keyvault:https://<vault>.vault.azure.net/secrets/<name>/"
                "<version>}}")
    if kind == "flow":
        return f"put it in {connection}, and name the connection in the flow's nodes (connection: <name>)"
    return (f"{plain}; keep the credential in Key Vault and read it when the job runs, with the job's identity, "
            f"or in {connection} (a prompt flow step names it in its nodes' connection:)")


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
