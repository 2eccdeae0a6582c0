"""Diagnostics: the one shape every stage reports problems in.

Every problem carries the file, line and column of the YAML that caused it, so the
CLI (and CI annotations, SARIF) can point at it. Codes are stable: tools and users
match on them, so a code is never reused for a different meaning.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# code -> (short name, one-line description). SARIF rules and the README table come from here.
CODES: dict[str, tuple[str, str]] = {
    # Y: reading files and YAML syntax
    "Y001": ("yaml-syntax", "The file is not valid YAML."),
    "Y002": ("duplicate-key", "A mapping holds the same key twice."),
    "Y003": ("alias-limit", "Aliases expand past the limit (a 'billion laughs' document) or recurse."),
    "Y004": ("depth-limit", "Nesting is deeper than the limit."),
    "Y005": ("file-too-large", "The file is larger than the limit."),
    "Y006": ("document-limit", "The file holds more YAML documents than the limit."),
    "Y007": ("not-utf8", "The file is not UTF-8 text."),
    "Y008": ("forbidden-tag", "A YAML tag other than the plain JSON-compatible ones."),
    "Y009": ("complex-key", "A mapping key that is not a plain scalar."),
    "Y010": ("empty-file", "The file holds no YAML document."),
    "Y011": ("path-escape", "A path or symlink leads outside the repository."),
    "Y012": ("no-manifests", "No manifest files were found."),
    "Y013": ("unreadable", "The file cannot be read."),
    "Y014": ("number-range", "An integer beyond what ARM and the engine carry exactly."),
    # S: what a document is, and its schema
    "S001": ("not-a-manifest", "A document that is neither an amlctl envelope nor an Azure ML CLI v2 file."),
    "S002": ("unsupported-kind", "An Azure ML CLI v2 kind that amlctl does not manage."),
    "S003": ("schema", "A field does not match the kind's schema."),
    "S004": ("unknown-field", "A field the kind's schema does not define."),
    "S005": ("missing-field", "A required field is missing."),
    "S006": ("name-mismatch", "spec.name disagrees with metadata.name."),
    # M: meaning across manifests
    "M001": ("duplicate-name", "Two manifests define the same kind and name in one workspace."),
    "M002": ("external-reference", "A reference to something no manifest here defines."),
    "M003": ("dangling-reference", "A reference that must resolve inside the estate does not."),
    "M004": ("traffic", "An endpoint's traffic is not a valid allocation over its own deployments."),
    "M005": ("mirror-traffic", "Mirror traffic over 50% or aimed at a deployment that takes live traffic."),
    "M006": ("path-missing", "A local path (code, model, conda file, build context) does not exist."),
    "M007": ("inline-secret", "A credential is written inline in git."),
    "M008": ("unknown-role", "A role name that is not a known built-in role or role-definition id."),
    "M009": ("workspace-mismatch", "A reference crosses into another workspace."),
    "M010": ("key-vault-uri", "A key_vault_secret that is not a secret URI of a Key Vault of a known Azure cloud."),
    "M011": ("missing-role", "An identity lacks a role it needs (a prompt flow endpoint's: connections, Azure OpenAI)."),
    "M012": ("serverless-identity", "A job or step on serverless compute with an identity Azure ML does not support there (warning)."),
    "M013": ("bad-schedule", "A schedule's trigger Azure ML refuses: cron expression, recurrence pattern, time zone, start or end."),
    "M014": ("schedule-ignored", "A schedule field Azure ML ignores: a cron day-of-month or month field, a compute instance's end_time (warning)."),
    "M015": ("monitor-data", "A model monitor's data the target deployment does not collect (defaults need its data collector), alert e-mails over Azure's limit, or a preprocessing component Azure would not receive (warning)."),
    # K: stacks and overlays
    "K001": ("stack-file", "A stack file does not match the stack schema."),
    "K002": ("overlay-no-match", "An overlay selects no manifest."),
    "K003": ("overlay-result", "A manifest is invalid after a stack's overlays are applied."),
    "K004": ("secret-not-set", "A manifest names a secret_config key the stack does not set."),
    # R: rendering a manifest into resources
    "R001": ("not-rendered", "A field amlctl does not render yet (it is ignored)."),
    "R002": ("resource-clash", "Two manifests render the same resource."),
    "R003": ("unversioned-reference", "A reference without a version to an asset the estate does not define."),
    "R004": ("inline-definition", "An inline definition where amlctl needs a manifest of its own."),
    "R005": ("inline-secret", "A secret value that cannot be rendered."),
    "R006": ("no-storage", "A local path in a workspace whose storage account is unknown."),
    "R007": ("path-missing", "A local path that does not exist at render time."),
    "R008": ("unknown-role", "A role that is neither built-in nor a role-definition id."),
    "R009": ("dangling-dependency", "A resource depends on one the graph does not hold (an amlctl bug)."),
    "R010": ("pipeline-compile", "azure-ai-ml cannot compile the pipeline or job (its reason is in the message)."),
    "R011": ("granted-by-azure-ml", "A role assignment Azure ML makes by itself (it would fail on Azure)."),
    "R012": ("generated-value", "A value amlctl generates replaced the manifest's (a prompt flow's PRT_CONFIG_OVERRIDE)."),
    "R013": ("serverless-region", "Serverless (Models-as-a-Service) fine-tuning is not offered in the workspace's region."),
    # P: planning a change between two revisions
    "P001": ("immutable-version", "The content of an asset version that already exists changed: bump the version."),
    "P002": ("revision", "A git revision cannot be read."),
    "P003": ("orphaned-deployment", "The change deletes an endpoint but keeps deployments of it."),
    "P004": ("create-may-collide", "A create meets a resource that already exists (known on the local target, "
                                   "not knowable offline on Azure): adopt it with amlctl import."),
}


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem. Sorting orders by file, line, column: the order users read in."""

    path: str  # repository-relative, POSIX separators
    line: int  # 1-based; 0 when the problem is about the file as a whole
    col: int  # 1-based; 0 when unknown
    code: str
    severity: Severity
    message: str
    subject: str = ""  # "Kind/name" where a manifest is known
    stack: str = ""  # set when the problem appears only with a stack's overlays

    @property
    def rule(self) -> str:
        return CODES[self.code][0]

    @property
    def text(self) -> str:
        """The message with what it is about: "Kind/name: message [stack S]"."""
        subject = f"{self.subject}: " if self.subject else ""
        stack = f" [stack {self.stack}]" if self.stack else ""
        return f"{subject}{self.message}{stack}"

    def format(self) -> str:
        # A problem with no line (a missing file, an unreadable revision) names only what it can.
        where = f"{self.path}:{self.line}:{self.col}: " if self.line else (f"{self.path}: " if self.path else "")
        return f"{where}{self.severity.value}[{self.code}] {self.text}"


def error(path: str, line: int, col: int, code: str, message: str, subject: str = "") -> Diagnostic:
    assert code in CODES, code
    return Diagnostic(path, line, col, code, Severity.ERROR, message, subject)


def warning(path: str, line: int, col: int, code: str, message: str, subject: str = "") -> Diagnostic:
    assert code in CODES, code
    return Diagnostic(path, line, col, code, Severity.WARNING, message, subject)
