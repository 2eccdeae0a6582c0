"""Model monitors (a Schedule's create_monitor) that render would refuse, found by validate first.

The schema holds the monitor's shape and refuses what pulumi-azure-native cannot type (generation
signals, data segments, a custom signal's connection, Azure Monitor alerts). This holds what needs
the estate, and the rules render shares (controller/render/kinds/monitoring.py imports them):

- the target deployment (`endpoint_deployment_id`: azureml:<endpoint>:<deployment> or its ARM id)
  must be an OnlineDeployment manifest here (M003): its data collector is where the monitor's
  default production data comes from, and a monitor of a deployment amlctl does not deploy would
  point at nothing until someone else creates it;
- data the monitor leaves to defaults comes from that deployment's collections, as MLClient fills
  it (azure-ai-ml's ScheduleOperations._resolve_monitor_schedule_arm_id): no signals at all (the
  out-of-box monitor) needs model_inputs and model_outputs; a data drift or data quality signal
  without production or reference data needs model_inputs; a prediction drift signal, model_outputs;
  a feature attribution drift signal without production data, both. A collection that is missing
  or not enabled is an error that says which signal needs it (M015);
- the alert e-mails fit Azure's limit of 499 characters in all (M015);
- a pre_processing_component on reference data without a data_window is not sent (azure-
  ai-ml builds fixed input data, which has no preprocessing component; so does the provider): a
  warning (M015) rather than a silent drop.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Callable, Iterable, Iterator

from controller import schemas as S
from controller.diagnostics import Severity, error, warning
from controller.manifests.model import Manifest

INPUTS, OUTPUTS = "model_inputs", "model_outputs"
EMAILS_LIMIT = 499  # MonitorEmailNotificationSettings.emails: "a limitation of 499 characters in total"
_ARM = re.compile(r"^/subscriptions/[^/]+/resource[Gg]roups/[^/]+/providers/Microsoft\.MachineLearningServices/"
                  r"workspaces/[^/]+/onlineEndpoints/([^/]+)/deployments/([^/]+)$", re.I)
_SHORT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):([A-Za-z0-9][A-Za-z0-9_-]*)$")
TARGET_PATH = ("create_monitor", "monitoring_target", "endpoint_deployment_id")


def is_monitor(m: Manifest) -> bool:
    return m.kind == "Schedule" and isinstance(m.spec.get("create_monitor"), dict)


def target_names(value: str) -> tuple[str, str] | None:
    """(endpoint, deployment) that an endpoint_deployment_id names, or None when it names none."""
    bare = value.removeprefix("azureml:")
    match = _ARM.match(bare) or _SHORT.match(bare)
    return (match.group(1), match.group(2)) if match else None


def deployment(m: Manifest, manifests: Iterable[Manifest]) -> tuple[Manifest | None, str | None]:
    """(the OnlineDeployment manifest the monitor watches, or None; the problem when the monitor
    names one the estate lacks). (None, None): the monitor names no deployment."""
    value = ((m.spec["create_monitor"].get("monitoring_target") or {}).get("endpoint_deployment_id"))
    if not isinstance(value, str):
        return None, None
    names = target_names(value)
    if names is None:
        return None, (f"{S.dotted(TARGET_PATH)}: {value!r} names no online deployment: write "
                      "azureml:<endpoint>:<deployment> (or the deployment's ARM id)")
    endpoint, name = names
    candidates = [d for d in manifests if d.kind == "OnlineDeployment"
                  and (d.workspace == m.workspace or None in (d.workspace, m.workspace))]
    for d in candidates:
        if d.name == name and d.spec.get("endpoint_name") == endpoint:
            return d, None
    known = sorted(f"{d.spec.get('endpoint_name')}:{d.name}" for d in candidates)
    hint = difflib.get_close_matches(f"{endpoint}:{name}", known, n=1)
    hint_text = f" (did you mean azureml:{hint[0]}?)" if hint else ""
    return None, (f"{S.dotted(TARGET_PATH)}: no OnlineDeployment manifest here is deployment {name!r} of endpoint "
                  f"{endpoint!r}{hint_text}; amlctl monitors only deployments it deploys (the monitor's default "
                  "production data is that deployment's data collector)")


def needs(spec: dict[str, Any]) -> list[tuple[tuple, str, tuple[str, ...]]]:
    """(spec path, what needs it, collections) for each part of a monitor that azure-ai-ml fills
    from the target deployment's collected data."""
    signals = spec.get("monitoring_signals")
    if not signals:
        return [(("create_monitor",), "the out-of-box monitor (no monitoring_signals)", (INPUTS, OUTPUTS))]
    out = []
    for name in sorted(signals):
        signal = signals[name] or {}
        kind = signal.get("type")
        at = ("create_monitor", "monitoring_signals", name)
        both = signal.get("production_data") and signal.get("reference_data")
        if kind in ("data_drift", "data_quality") and not both:
            out.append((at, f"signal {name} ({kind}) without production or reference data", (INPUTS,)))
        elif kind == "prediction_drift" and not both:
            out.append((at, f"signal {name} ({kind}) without production or reference data", (OUTPUTS,)))
        elif kind == "feature_attribution_drift" and not signal.get("production_data"):
            out.append((at, f"signal {name} ({kind}) without production data", (INPUTS, OUTPUTS)))
    return out


def collected(d: Manifest, collection: str) -> bool:
    """Whether the deployment collects `collection` (its data_collector has it enabled)."""
    item = (((d.spec.get("data_collector") or {}).get("collections")) or {}).get(collection)
    return isinstance(item, dict) and str(item.get("enabled")).lower() == "true"


def collection_problem(d: Manifest | None, what: str, wanted: tuple[str, ...]) -> str | None:
    """Why `what` cannot take its data from the deployment `d`'s collections, or None."""
    if d is None:
        return (f"{what} takes its data from the target deployment's data collector, and the monitor names no "
                "deployment: give monitoring_target.endpoint_deployment_id, or production_data and reference_data")
    who = f"deployment {d.spec.get('endpoint_name')}:{d.name}"
    if not isinstance(d.spec.get("data_collector"), dict):
        return (f"{what} takes its data from {who}'s data collector, and {who} has no data_collector: collect "
                f"{' and '.join(wanted)} there (data_collector: {{collections: {{{wanted[0]}: {{enabled: 'true'}}}}}}), "
                "or give the signal its production_data and reference_data")
    missing = [c for c in wanted if not collected(d, c)]
    if missing:
        return (f"{what} takes its data from {who}'s {' and '.join(wanted)} collections, and {who} does not collect "
                f"{' and '.join(missing)} (data_collector.collections.{missing[0]}.enabled: 'true')")
    return None


def problems(m: Manifest, manifests: Iterable[Manifest]) -> Iterator[tuple[tuple, str, Severity, str]]:
    """(spec path, code, severity, message) of each problem of one monitor. A path that names a
    mapping (the monitor, a signal, the e-mail list) is reported at its key."""
    spec = m.spec["create_monitor"]
    target, missing = deployment(m, manifests)
    if missing:
        yield TARGET_PATH, "M003", Severity.ERROR, missing
        return
    for at, what, wanted in needs(spec):
        why = collection_problem(target, what, wanted)
        if why:
            yield at, "M015", Severity.ERROR, why
    emails = (spec.get("alert_notification") or {}).get("emails") if isinstance(spec.get("alert_notification"), dict) else None
    if isinstance(emails, list) and len(",".join(map(str, emails))) > EMAILS_LIMIT:
        yield (("create_monitor", "alert_notification", "emails"), "M015", Severity.ERROR,
               f"create_monitor.alert_notification.emails: {len(','.join(map(str, emails)))} characters in all; Azure "
               f"takes at most {EMAILS_LIMIT} (use a distribution list)")
    for at, value in _fixed_reference_data(spec):
        yield (at + ("pre_processing_component",), "M015", Severity.WARNING,
               f"{S.dotted(at + ('pre_processing_component',))}: {value!r} is not sent: reference data without a "
               "data_window is fixed input data, which Azure takes without a preprocessing component "
               "(azure-ai-ml drops it too); give it data_window: {lookback_window_size: ..., lookback_window_offset: ...}")


def _fixed_reference_data(spec: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    for name, signal in sorted((spec.get("monitoring_signals") or {}).items()):
        if not isinstance(signal, dict):
            continue
        at = ("create_monitor", "monitoring_signals", name)
        places = [(at + ("reference_data",), signal.get("reference_data"))]
        places += [(at + ("input_data", key), value) for key, value in sorted((signal.get("input_data") or {}).items())]
        for path, data in places:
            window = data.get("data_window") if isinstance(data, dict) else None
            if isinstance(data, dict) and data.get("pre_processing_component") \
                    and not {"lookback_window_size", "window_start"} & set(window or {}):
                yield path, data["pre_processing_component"]


def _value(spec: Any, path: tuple) -> Any:
    for part in path:
        spec = spec.get(part) if isinstance(spec, dict) else None
    return spec


def check(manifests: list[Manifest], result: Any) -> None:
    for m in manifests:
        if not is_monitor(m):
            continue
        for at, code, severity, message in problems(m, manifests):
            src = m.where(at, key=not isinstance(_value(m.spec, at), (str, int, float)))
            make: Callable = error if severity is Severity.ERROR else warning
            result.diagnostics.append(make(src.path, src.line, src.col, code, message, m.subject))
