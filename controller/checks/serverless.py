"""Serverless compute: which jobs and pipeline steps run on it, and the identities Azure ML does not
support there (a warning, M012: the run is submitted, and fails or reads storage as no one expects).

Where a run is serverless (amlctl sends it as azure-ai-ml does: no computeId for a job without
compute, the literal `serverless` for `compute: azureml:serverless` and for a pipeline's
`settings.default_compute`; controller/checks/refs.py):
  Job       a command or sweep job whose `compute` is serverless or absent ("When compute isn't
            specified for a job, the job runs on serverless compute"). A Spark job without compute
            runs on serverless Spark, another compute, whose identities this rule does not cover.
  Pipeline  a step (not a Spark step) whose `compute` is serverless, or that names none in a pipeline
            whose default (`settings.default_compute`, else `compute`) is serverless.

The rule, as Azure ML documents it (MicrosoftDocs/azure-ai-docs,
articles/machine-learning/how-to-use-serverless-compute.md, "Identity support and credential
passthrough"; learn.microsoft.com/azure/machine-learning/how-to-use-serverless-compute):
  - "Serverless compute doesn't support system-assigned identity." and "User identity and workspace
    user-assigned managed identity are supported for job submission.": a job's `identity: {type:
    managed}` on serverless is the workspace's user-assigned identity ("When you have a workspace
    configured with user-assigned managed identity, you can use that identity with the serverless
    job"). So it is warned about when the estate's Workspace manifest gives the workspace no
    user-assigned identity (no `identity` is a system-assigned one), and when it names an identity
    (resource id, client id, principal id) that is not one of the workspace's.
  - "for pipelines containing pipeline components, identity must be set on individual steps that will
    be run. Identity set at the root pipeline or pipeline component level won't function.": a
    pipeline's own `identity` beside a pipeline-component step is warned about.
A workspace no manifest defines is not judged: its identities are not known here.
"""
from __future__ import annotations

from typing import Any, Iterator

from controller.checks import refs
from controller.diagnostics import warning
from controller.manifests.model import Manifest

MANAGED = ("managed", "managed_identity")
# Fields of a job identity that name one user-assigned identity, and the workspace's fields that can match.
_NAMED = {"resource_id": "resource_id", "msi_resource_id": "resource_id", "client_id": "client_id",
          "object_id": "principal_id"}
SOURCE = "learn.microsoft.com/azure/machine-learning/how-to-use-serverless-compute"


def is_serverless(compute: Any) -> bool:
    return isinstance(compute, str) and compute.strip().removeprefix("azureml:") == refs.SERVERLESS


def serverless_runs(m: Manifest) -> Iterator[tuple[tuple, dict]]:
    """(spec path, body) of each run of `m` on serverless compute: the Job itself (path ()), or a
    Pipeline's steps (`jobs.<step>`)."""
    spec = m.spec
    if m.kind == "Job":
        if spec.get("type", "command") != "spark" and (spec.get("compute") is None or is_serverless(spec["compute"])):
            yield (), dict(spec)
        return
    if m.kind != "Pipeline":
        return
    settings = spec.get("settings") if isinstance(spec.get("settings"), dict) else {}
    default = settings.get("default_compute", spec.get("compute"))
    jobs = spec.get("jobs") if isinstance(spec.get("jobs"), dict) else {}
    for name, step in sorted(jobs.items()):
        if not isinstance(step, dict) or step.get("type") in ("spark", "pipeline"):
            continue
        compute = step.get("compute", default)
        if is_serverless(compute):
            yield ("jobs", name), step


def check(manifests: list[Manifest], result: Any) -> None:
    """The serverless identity warnings of every Job and Pipeline, into `result.diagnostics`."""
    workspaces = {m.name: m for m in manifests if m.kind == "Workspace"}
    for m in manifests:
        if m.kind not in ("Job", "Pipeline"):
            continue
        runs = list(serverless_runs(m))
        workspace = workspaces.get(m.workspace or "")
        judged: set[tuple] = set()
        for at, body in runs:
            if "identity" not in body and at:
                at, body = (), dict(m.spec)  # a step with no identity of its own runs as the pipeline's
            identity = body.get("identity")
            if isinstance(identity, dict) and workspace is not None and at not in judged:
                judged.add(at)
                found = _unsupported(identity, workspace)
                if found:
                    _warn(result, m, at + ("identity", found[0]), found[1])
        steps = m.spec.get("jobs") if isinstance(m.spec.get("jobs"), dict) else {}
        if runs and isinstance(m.spec.get("identity"), dict) and any(
                isinstance(s, dict) and s.get("type") == "pipeline" for s in steps.values()):
            _warn(result, m, ("identity",), "a pipeline's own identity does not reach the steps of its pipeline "
                  "components (Azure ML: \"Identity set at the root pipeline or pipeline component level won't "
                  "function\"); set identity on each step that runs")


def _unsupported(identity: dict, workspace: Manifest) -> tuple[str, str] | None:
    """(field of the identity, why) when Azure ML does not support this job identity on the
    workspace's serverless compute; None when it does."""
    if identity.get("type") not in MANAGED:
        return None  # user_identity is supported; aml_token is not what this rule is about
    ws_identity = workspace.spec.get("identity") if isinstance(workspace.spec.get("identity"), dict) else {}
    kind = str(ws_identity.get("type", "system_assigned, the default"))
    assigned = _user_assigned(ws_identity)
    if "user_assigned" not in kind or not assigned:
        return "type", (f"{identity['type']} on serverless compute is the workspace's user-assigned identity, and "
                        f"workspace {workspace.name!r} has none (its identity: {kind}); serverless compute does not "
                        "support a system-assigned identity: give the workspace a user-assigned identity, or run as "
                        "identity: {type: user_identity}")
    for field, ws_field in _NAMED.items():
        named = identity.get(field)
        known = {str(a[ws_field]).lower() for a in assigned if a.get(ws_field)}
        if isinstance(named, str) and known and named.lower() not in known:
            return field, (f"not one of workspace {workspace.name!r}'s user-assigned identities, the only managed "
                           "identities serverless compute supports; name one of them, or run as identity: "
                           "{type: user_identity}")
    return None


def _user_assigned(identity: dict) -> list[dict]:
    """The workspace's user-assigned identities as {resource_id, client_id?, principal_id?}."""
    uai = identity.get("user_assigned_identities")
    if isinstance(uai, list):
        return [a for a in uai if isinstance(a, dict)]
    if isinstance(uai, dict):
        return [{"resource_id": k, **(v if isinstance(v, dict) else {})} for k, v in uai.items()]
    return []


def _warn(result: Any, m: Manifest, path: tuple, why: str) -> None:
    src = m.where(path)
    result.diagnostics.append(warning(src.path, src.line, src.col, "M012",
                                      f"{'.'.join(map(str, path))}: {why} (see {SOURCE})", m.subject))
