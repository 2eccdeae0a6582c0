"""A deployment's Health read from the Azure Monitor metrics of its managed online endpoint.

    read(endpoint_id, deployment, start, end) -> Health     or raises HealthUnavailable

Two metrics of Microsoft.MachineLearningServices/workspaces/onlineEndpoints (Azure Monitor's
"Supported metrics" page for that resource type; both are endpoint-scope metrics split by
deployment, and they count mirrored requests too: Azure records a mirror's metrics, it only
drops its answers):

    RequestsPerMinute    Count, aggregation Average; dimensions deployment, statusCode,
                         statusCodeClass, modelStatusCode
    RequestLatency_P95   Milliseconds, aggregation Average; dimension deployment

Both are read at PT1M with the one aggregation Azure lists for them (Average): Azure may refuse a
query for an aggregation a metric does not support, and a refused query would hold every rollout.
At PT1M, RequestsPerMinute's Average is what the metric says it is, "the number of requests sent
to online endpoint within a minute"; summed over the window's minutes it is the window's count. A
coarser grain would not do: its Average is the mean of the minutes that have a sample, minutes
without requests have none, and multiplying it back by the grain's minutes over-counts (one minute
with 3 errors in a PT5M bucket would read 15). Long windows are read a day at a time instead,
which keeps each answer to 1440 points a series.

The query runs with the deploying identity (DefaultAzureCredential, as the rest of amlctl), which
needs Monitoring Reader (or Reader) on the endpoint or its resource group.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable, Iterator, Sequence

from controller.rollout.health import Health

SOURCE = "Azure Monitor"
REQUESTS = "RequestsPerMinute"
P95 = "RequestLatency_P95"
AGGREGATION = "Average"
GRAIN = dt.timedelta(minutes=1)
CHUNK = dt.timedelta(days=1)
# Above Azure's default of 10 series for a filtered query: a deployment has one series per status
# class it answered with (1xx..5xx), and a cut-off list would silently drop some of its requests.
SERIES = 50

MONITORING_READER = "Monitoring Reader"
MONITORING_READER_ID = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"

_ENDPOINT = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/onlineEndpoints/(?P<name>[^/]+)$",
    re.IGNORECASE)


class HealthUnavailable(Exception):
    """Azure Monitor could not say how the deployment is doing; the message names the endpoint,
    what failed and what to do about it."""


def read(endpoint_id: str, deployment: str, start: dt.datetime, end: dt.datetime, *,
         credential: Any = None, client: Any = None) -> Health:
    """The deployment's health between start and end (timezone-aware). `client` is a
    MetricsQueryClient (tests build one with a transport of their own); without it one is built
    on `credential`, by default DefaultAzureCredential."""
    where = describe(endpoint_id, deployment)  # first: a malformed id asks for no token
    start, end = utc(start), utc(end)
    if end <= start:
        return summarize([], [])
    if client is not None:
        return _read(client, endpoint_id, deployment, start, end, where)
    from azure.monitor.query import MetricsQueryClient
    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    with MetricsQueryClient(credential) as owned:
        return _read(owned, endpoint_id, deployment, start, end, where)


def _read(client: Any, endpoint_id: str, deployment: str, start: dt.datetime, end: dt.datetime,
          where: str) -> Health:
    from azure.core.exceptions import AzureError
    requests, latency = [], []
    try:
        for s, e in chunks(start, end):
            requests += query(client, endpoint_id, REQUESTS, requests_filter(deployment), s, e)
            latency += query(client, endpoint_id, P95, latency_filter(deployment), s, e)
    except AzureError as exc:
        raise HealthUnavailable(explain(exc, endpoint_id, where)) from None
    return summarize(mine(requests, deployment), mine(latency, deployment))


def query(client: Any, endpoint_id: str, metric: str, odata: str, start: dt.datetime,
          end: dt.datetime) -> list[Any]:
    """The metric's time series (MetricsQueryClient's TimeSeriesElement) over [start, end)."""
    result = client.query_resource(endpoint_id, [metric], timespan=(start, end), granularity=GRAIN,
                                   aggregations=[AGGREGATION], filter=odata, max_results=SERIES)
    return [series for m in result.metrics if m.name == metric for series in m.timeseries]


def requests_filter(deployment: str) -> str:
    return f"deployment eq {quote(deployment)} and statusCodeClass eq '*'"


def latency_filter(deployment: str) -> str:
    return f"deployment eq {quote(deployment)}"


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"  # OData: a quote inside a string is doubled


def utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{when!r} has no time zone: a metrics window is in UTC")
    return when.astimezone(dt.timezone.utc)


def chunks(start: dt.datetime, end: dt.datetime,
           size: dt.timedelta = CHUNK) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """[start, end) in consecutive pieces of at most `size`, the first starting on the minute.
    Azure's one-minute buckets begin on the minute: flooring takes the whole minute the step began
    in (at worst a few of the previous step's requests to the same deployment), where rounding up
    would drop the step's own first seconds, errors included."""
    s = start.replace(second=0, microsecond=0)
    while s < end:
        e = min(s + size, end)
        yield s, e
        s = e


def dimension(series: Any, name: str) -> str | None:
    """A series' dimension value, by name in any case: Azure's answers may spell the dimension
    names in lower case whatever case the filter gave them."""
    for key, value in (series.metadata_values or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def mine(series: Iterable[Any], deployment: str) -> list[Any]:
    """The filter already asks for the one deployment; a series that names another one (the
    endpoint's others) must not count towards this one's health."""
    return [s for s in series if (dimension(s, "deployment") or deployment).lower() == deployment.lower()]


def values(series: Any) -> list[float]:
    """The Average of each minute that has one; a minute without samples has none (or, for a
    metric Azure fills with zeros, 0), which for a count is the same: no requests."""
    return [point.average for point in series.data if point.average is not None]


def summarize(requests: Sequence[Any], latency: Sequence[Any]) -> Health:
    """Health from RequestsPerMinute split by statusCodeClass and RequestLatency_P95, both at PT1M.

    p95 is the maximum of the minutes' P95 values, not a request-weighted mean. The window's own
    p95 can be no higher than the highest minute's (if every minute has at most 5% of its requests
    above M, so has the window), so the maximum is an upper bound: a step that passes its latency
    gate on it is under the threshold. A weighted mean can sit under the threshold while one minute
    of the step ran far over it; a canary is there to catch that minute. (A minute's value is itself
    Azure's Average of the P95 samples it holds for the minute, the only aggregation it lists.)"""
    by_class: dict[str, float] = {}
    for series in requests:
        cls = (dimension(series, "statusCodeClass") or "").lower()
        by_class[cls] = by_class.get(cls, 0.0) + sum(values(series))
    total = round(sum(by_class.values()))
    ok = round(by_class.get("2xx", 0.0))
    p95s = [v for series in latency for v in values(series)]
    return Health(requests=total, http_5xx=round(by_class.get("5xx", 0.0)),
                  success_rate=100.0 * ok / total if total else None,
                  p95_latency_ms=max(p95s) if p95s else None, source=SOURCE)


def describe(endpoint_id: str, deployment: str) -> str:
    m = _ENDPOINT.match(endpoint_id or "")
    if not m:
        raise HealthUnavailable(
            f"cannot read the health of deployment {deployment!r} from Azure Monitor: {endpoint_id!r} is not the "
            "ARM id of an online endpoint (/subscriptions/<id>/resourceGroups/<group>/providers/"
            "Microsoft.MachineLearningServices/workspaces/<workspace>/onlineEndpoints/<endpoint>)")
    return (f"deployment {deployment!r} of online endpoint {m['name']!r} "
            f"(workspace {m['ws']}, resource group {m['rg']})")


def resource_group(endpoint_id: str) -> str:
    return endpoint_id.split("/providers/", 1)[0]


# What to do about an HTTP refusal other than 403 (which names the role: see grant)
ADVICE = {
    401: "the deploying identity's token was not accepted: sign in again (az login) or check CI's federated credential",
    404: "the endpoint was not found: it is deleted, or not created yet",
    429: "Azure Monitor is throttling the deploying identity's queries (after azure-core's retries); try again later",
}


def explain(exc: Any, endpoint_id: str, where: str) -> str:
    """What failed, in one message, without a stack trace: Azure's own code and message, and for a
    refusal the role to grant and how."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
    head = f"cannot read the health of {where} from Azure Monitor"
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        head += f": HTTP {exc.status_code}" + azure_error(exc)
        advice = grant(endpoint_id) if exc.status_code == 403 else ADVICE.get(exc.status_code)
        return head + (f"\n{advice}" if advice else "")
    if isinstance(exc, ClientAuthenticationError):  # no credential at all: no login, no OIDC token
        return f"{head}: no token for the deploying identity: {first_line(exc)}\nsign in (az login) or set up CI's OIDC login"
    if isinstance(exc, ServiceRequestError):
        return f"{head}: Azure Monitor (management.azure.com) cannot be reached: {first_line(exc)}"
    return f"{head}: {first_line(exc)}"


def azure_error(exc: Any) -> str:
    error = getattr(exc, "error", None)
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    if code or message:
        return f" {code or ''}".rstrip() + (f": {message}" if message else "")
    return f" {exc.reason}" if getattr(exc, "reason", None) else ""


def grant(endpoint_id: str) -> str:
    return (f"the deploying identity needs the {MONITORING_READER} role ({MONITORING_READER_ID}) on the endpoint "
            f"or its resource group to read its metrics, e.g.\n"
            f"  az role assignment create --assignee <client id of the deploying identity> "
            f"--role \"{MONITORING_READER}\" --scope {endpoint_id}\n"
            f"(or --scope {resource_group(endpoint_id)})")


def first_line(exc: Any) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

