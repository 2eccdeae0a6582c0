"""References to what a run produces: `{output_of: FineTuningJob/<name>, output: registered_model}`.

A serverless endpoint or a deployment may serve the model a fine-tuning job (or a pipeline or job
output with a `name`) registers. The reference must name a run manifest of the same workspace and
an output of it that registers a model; render and plan rely on the same rule (`registered_asset`),
so validate rejects whatever they would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from controller import schemas as S
from controller.manifests.model import Manifest

RUN_KINDS = ("FineTuningJob", "Pipeline", "Job")
MODEL_OUTPUTS = ("mlflow_model", "custom_model", "triton_model")
DEFAULT_OUTPUT = "registered_model"


@dataclass(frozen=True)
class RunOutput:
    """A parsed {output_of, output} reference."""

    kind: str
    name: str
    output: str

    @property
    def subject(self) -> str:
        return f"{self.kind}/{self.name}"


def parse(value: dict[str, Any]) -> RunOutput:
    kind, _, name = str(value["output_of"]).partition("/")
    return RunOutput(kind, name, str(value.get("output", DEFAULT_OUTPUT)))


def registered_asset(target: Manifest, output: str) -> tuple[str | None, str]:
    """(name of the model asset the run registers through `output`, or None; why not)."""
    outputs = target.spec.get("outputs") or {}
    found = outputs.get(output) if isinstance(outputs, dict) else None
    if not isinstance(found, dict):
        known = ", ".join(sorted(outputs)) if isinstance(outputs, dict) and outputs else "none"
        return None, f"{target.subject} has no output {output!r} (its outputs: {known})"
    if target.kind == "FineTuningJob" and output == DEFAULT_OUTPUT:
        return str(found["name"]), ""  # the schema requires its name
    if found.get("type") not in MODEL_OUTPUTS or not found.get("name"):
        return None, (f"output {output!r} of {target.subject} registers no model: give it type "
                      f"({', '.join(MODEL_OUTPUTS)}) and a name, and the service registers the model it writes")
    return str(found["name"]), ""


def check(m: Manifest, path: tuple, value: Any, find: Callable[[str, str, str | None], Manifest | None],
          emit: Callable[[tuple, str, str], None]) -> None:
    """One {output_of} reference of manifest `m` at `path`; problems through `emit(path, code, message)`."""
    if not isinstance(value, dict) or "output_of" not in value:
        return
    ref = parse(value)
    target = find(ref.kind, ref.name, m.workspace)
    if target is None or (m.workspace and target.workspace and target.workspace != m.workspace):
        emit(path + ("output_of",), "M003", f"{S.dotted(path)}.output_of: no {ref.kind} manifest {ref.name!r} in "
             f"workspace {m.workspace!r}: the run must be part of this estate, so amlctl knows when its model exists")
        return
    asset, why = registered_asset(target, ref.output)
    if asset is None:
        emit(path + ("output",), "M003", f"{S.dotted(path)}: {why}")


def references(annotations: Iterable[S.Annotated]) -> list[tuple[tuple, Any]]:
    """(path, value) of every run-output reference among a manifest's annotations."""
    return [(a.path, a.instance) for a in annotations if a.key == "run-output" and isinstance(a.instance, dict)]


def check_teacher(m: Manifest, find: Callable[[str, str, str | None], Manifest | None],
                  emit: Callable[[tuple, str, str], None]) -> None:
    """A distillation job's teacher must be a serverless Connection with an endpoint and an api_key
    reference: what render builds azure-ai-ml's connection information from."""
    value = m.spec.get("teacher_model_endpoint_connection")
    if m.kind != "FineTuningJob" or not isinstance(value, str):
        return
    conn = find("Connection", value.removeprefix("azureml:"), m.workspace)
    if conn is None:
        return  # the reference check reports it
    spec = conn.spec
    if spec.get("type") != "serverless" or not spec.get("endpoint") or not isinstance(spec.get("api_key"), dict):
        emit(("teacher_model_endpoint_connection",), "M003",
             f"teacher_model_endpoint_connection: Connection {conn.name!r} ({conn.path}) must be type serverless "
             "with an endpoint and an api_key from secret_config or key_vault_secret, as azure-ai-ml's distillation "
             "takes it")
