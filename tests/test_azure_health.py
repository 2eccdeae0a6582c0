"""A deployment's Health from Azure Monitor, through the real MetricsQueryClient of azure-monitor-query.

No Azure here: the client's transport is azure-core's RequestsTransport over a stand-in requests
session that answers each metrics GET with a body in the REST shape of Metrics - List
(value[].name.value, timeseries[].metadatavalues[].name.value/value, timeseries[].data[].timeStamp/
average), the shape the library's generated operation documents; azure-monitor-query 1.4 has no
model classes to build it from (its generated layer is typed as JSON)."""
from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import RequestsTransport
from azure.monitor.query import MetricsQueryClient

from azure_http import Credential, response

from controller.rollout import azure_health
from controller.rollout.azure_health import HealthUnavailable
from controller.rollout.health import FAIL, PASS, WAIT, Gates, Health, judge

ENDPOINT = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers/"
            "Microsoft.MachineLearningServices/workspaces/ws-ml/onlineEndpoints/credit-endpoint")
START = dt.datetime(2025, 3, 1, 12, 0, 20, tzinfo=dt.timezone.utc)  # a step starts mid-minute
END = dt.datetime(2025, 3, 1, 12, 10, 0, tzinfo=dt.timezone.utc)
GATES = Gates(success_rate=99, p95_latency_ms=300, http_5xx=5, min_requests=200)


def minutes(n: int, start: dt.datetime = START) -> list[str]:
    first = start.replace(second=0)
    return [(first + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(n)]


def series(averages: list[float | None], **dimensions: str) -> dict:
    """One time series: a data point a minute, without `average` where the minute had no sample."""
    return {"metadatavalues": [{"name": {"value": k, "localizedValue": k}, "value": v} for k, v in dimensions.items()],
            "data": [{"timeStamp": t, **({} if a is None else {"average": a})}
                     for t, a in zip(minutes(len(averages)), averages)]}


def body(metric: str, unit: str, timeseries: list[dict]) -> dict:
    return {"cost": 0, "timespan": "2025-03-01T12:00:00Z/2025-03-01T12:10:00Z", "interval": "PT1M",
            "namespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints", "resourceregion": "westeurope",
            "value": [{"id": f"{ENDPOINT}/providers/Microsoft.Insights/metrics/{metric}", "type": "Microsoft.Insights/metrics",
                       "name": {"value": metric, "localizedValue": metric}, "displayDescription": "", "unit": unit,
                       "errorCode": "Success", "timeseries": timeseries}]}


def requests_body(*timeseries: dict) -> dict:
    return body("RequestsPerMinute", "Count", list(timeseries))


def latency_body(*timeseries: dict) -> dict:
    return body("RequestLatency_P95", "Milliseconds", list(timeseries))


class Monitor(requests.Session):
    """Azure Monitor's metrics API as far as these tests need it: an answer per metric name (a
    (status, body) pair), and every request kept for the assertions."""

    def __init__(self, answers: dict[str, tuple[int, dict]]):
        super().__init__()
        self.answers, self.calls = answers, []

    def request(self, method, url, **kw):  # noqa: D401 - requests' own signature
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        self.calls.append({"method": method, "host": parts.netloc, "path": parts.path, "query": query,
                           "headers": dict(kw.get("headers") or {})})
        status, answer = self.answers[query["metricnames"]]
        return response(method, url, status, answer)


def client(monitor: Monitor, credential=None) -> MetricsQueryClient:
    return MetricsQueryClient(credential or Credential(), transport=RequestsTransport(session=monitor))


def read(monitor: Monitor, start=START, end=END, deployment="blue-1a2b3c4") -> Health:
    return azure_health.read(ENDPOINT, deployment, start, end, client=client(monitor))


def test_a_healthy_canary_and_the_requests_the_library_sends():
    # 10 minutes: 998 answers 2xx, 2 answer 5xx; the minutes' P95 peak at 180 ms
    monitor = Monitor({
        "RequestsPerMinute": (200, requests_body(
            series([100, 99, 100, 100, 99, 100, 100, 100, 100, 100], deployment="blue-1a2b3c4", statusCodeClass="2xx"),
            series([None, 1, None, None, 1, None, None, None, None, None], deployment="blue-1a2b3c4", statusCodeClass="5xx"))),
        "RequestLatency_P95": (200, latency_body(
            series([120, 135, 180, 150, 140, 130, 125, 122, 121, 119], deployment="blue-1a2b3c4"))),
    })
    credential = Credential()
    health = azure_health.read(ENDPOINT, "blue-1a2b3c4", START, END, client=client(monitor, credential))

    assert health == Health(requests=1000, http_5xx=2, success_rate=99.8, p95_latency_ms=180.0, source="Azure Monitor")
    assert judge(GATES, health).result == PASS

    rpm, p95 = monitor.calls
    for call in (rpm, p95):
        assert call["method"] == "GET" and call["host"] == "management.azure.com"
        assert call["path"] == ENDPOINT + "/providers/Microsoft.Insights/metrics"
        assert call["query"]["aggregation"] == "Average"
        assert call["query"]["interval"] == "PT1M"
        # the window starts on the minute the step began in, and ends when asked
        assert call["query"]["timespan"] == "2025-03-01T12:00:00.000Z/2025-03-01T12:10:00.000Z"
        assert call["query"]["api-version"]
        assert call["headers"]["Authorization"] == "Bearer token-of-the-deploying-identity"
    assert rpm["query"]["metricnames"] == "RequestsPerMinute"
    assert rpm["query"]["$filter"] == "deployment eq 'blue-1a2b3c4' and statusCodeClass eq '*'"
    assert int(rpm["query"]["top"]) >= 10  # every status class of the deployment, not Azure's default ten series
    assert p95["query"]["metricnames"] == "RequestLatency_P95"
    assert p95["query"]["$filter"] == "deployment eq 'blue-1a2b3c4'"
    assert credential.scopes == [("https://management.azure.com/.default",)]


def test_an_unhealthy_canary_fails_its_gates():
    # Azure names the dimensions in lower case in its answers
    monitor = Monitor({
        "RequestsPerMinute": (200, requests_body(
            series([60, 60, 60, 60, 60], deployment="blue-1a2b3c4", statuscodeclass="2xx"),
            series([8, 8, 8, 8, 8], deployment="blue-1a2b3c4", statuscodeclass="4xx"),
            series([12, 12, 12, 12, 12], deployment="blue-1a2b3c4", statuscodeclass="5xx"))),
        "RequestLatency_P95": (200, latency_body(series([240, 2500, 260, 250, 245], deployment="blue-1a2b3c4"))),
    })
    health = read(monitor)
    assert (health.requests, health.http_5xx, health.success_rate) == (400, 60, 75.0)
    # one slow minute is the window's p95 upper bound, not averaged away
    assert health.p95_latency_ms == 2500.0
    verdict = judge(GATES, health)
    assert verdict.result == FAIL and "60 HTTP 5xx > 5" in verdict.why


def test_slow_but_error_free_minutes_fail_on_latency():
    monitor = Monitor({
        "RequestsPerMinute": (200, requests_body(series([100] * 5, deployment="blue-1a2b3c4", statusCodeClass="2xx"))),
        "RequestLatency_P95": (200, latency_body(series([200, 210, 450, None, 220], deployment="blue-1a2b3c4"))),
    })
    health = read(monitor)
    assert (health.requests, health.success_rate, health.p95_latency_ms) == (500, 100.0, 450.0)
    verdict = judge(GATES, health)
    assert verdict.result == FAIL and "p95 latency 450 ms > 300 ms" in verdict.why


def test_no_data_points_is_no_requests_and_no_latency():
    for requests_answer, latency_answer in [
        (requests_body(), latency_body()),  # no series at all: the deployment answered nothing yet
        (requests_body(series([None] * 10, deployment="blue-1a2b3c4", statusCodeClass="2xx")),
         latency_body(series([None] * 10, deployment="blue-1a2b3c4"))),  # minutes without a sample
        ({"timespan": "2025-03-01T12:00:00Z/2025-03-01T12:10:00Z", "interval": "PT1M", "value": []},
         {"timespan": "2025-03-01T12:00:00Z/2025-03-01T12:10:00Z", "interval": "PT1M", "value": []}),
    ]:
        monitor = Monitor({"RequestsPerMinute": (200, requests_answer), "RequestLatency_P95": (200, latency_answer)})
        health = read(monitor)
        assert health == Health(requests=0, http_5xx=0, success_rate=None, p95_latency_ms=None, source="Azure Monitor")
        assert judge(GATES, health).result == WAIT


def test_another_deployments_series_does_not_count():
    monitor = Monitor({
        "RequestsPerMinute": (200, requests_body(
            series([10, 10], deployment="blue-1a2b3c4", statusCodeClass="2xx"),
            series([500, 500], deployment="blue", statusCodeClass="5xx"))),
        "RequestLatency_P95": (200, latency_body(series([100, 100], deployment="blue-1a2b3c4"),
                                                 series([9000, 9000], deployment="blue"))),
    })
    health = read(monitor)
    assert (health.requests, health.http_5xx, health.p95_latency_ms) == (20, 0, 100.0)


def test_403_names_the_endpoint_and_the_role_to_grant():
    refusal = {"error": {"code": "AuthorizationFailed", "message": (
        "The client '11111111-2222-3333-4444-555555555555' with object id '11111111-2222-3333-4444-555555555555' "
        "does not have authorization to perform action 'microsoft.insights/metrics/read' over scope "
        f"'{ENDPOINT}/providers/microsoft.insights' or the scope is invalid.")}}
    monitor = Monitor({"RequestsPerMinute": (403, refusal), "RequestLatency_P95": (403, refusal)})
    with pytest.raises(HealthUnavailable) as e:
        read(monitor)
    message = str(e.value)
    assert "'credit-endpoint'" in message and "'blue-1a2b3c4'" in message and "resource group rg-ml" in message
    assert "HTTP 403 AuthorizationFailed" in message and "microsoft.insights/metrics/read" in message
    assert "Monitoring Reader" in message and "43d0d8ad-25c7-4714-9337-8ba259a9fe05" in message
    assert ('az role assignment create --assignee <client id of the deploying identity> '
            f'--role "Monitoring Reader" --scope {ENDPOINT}') in message
    assert "--scope /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml)" in message
    assert e.value.__cause__ is None and e.value.__suppress_context__  # no chained Azure traceback
    assert len(monitor.calls) == 1  # a refusal is not retried, and the second metric is not asked for


def test_a_missing_endpoint_says_so():
    missing = {"error": {"code": "ResourceNotFound", "message": "The Resource 'credit-endpoint' was not found."}}
    monitor = Monitor({"RequestsPerMinute": (404, missing), "RequestLatency_P95": (404, missing)})
    with pytest.raises(HealthUnavailable,
                       match=r"HTTP 404 ResourceNotFound: .*\nthe endpoint was not found: it is deleted, or not created yet"):
        read(monitor)


def test_no_credential_is_a_message_not_a_traceback():
    class NoLogin:
        def get_token(self, *scopes, **kw):
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included credentials.")

    monitor = Monitor({})
    with pytest.raises(HealthUnavailable) as e:
        azure_health.read(ENDPOINT, "blue-1a2b3c4", START, END, client=client(monitor, NoLogin()))
    assert "no token for the deploying identity: DefaultAzureCredential failed" in str(e.value)
    assert "az login" in str(e.value) and monitor.calls == []


def test_a_malformed_endpoint_id_asks_for_nothing():
    credential, monitor = Credential(), Monitor({})
    with pytest.raises(HealthUnavailable, match="is not the ARM id of an online endpoint"):
        azure_health.read("credit-endpoint", "blue", START, END, client=client(monitor, credential))
    assert credential.scopes == [] and monitor.calls == []


def test_a_long_window_is_read_a_day_at_a_time():
    monitor = Monitor({
        "RequestsPerMinute": (200, requests_body(series([5, 5], deployment="blue-1a2b3c4", statusCodeClass="2xx"))),
        "RequestLatency_P95": (200, latency_body(series([50, 60], deployment="blue-1a2b3c4"))),
    })
    end = START + dt.timedelta(days=2, hours=3)
    health = read(monitor, end=end)
    spans = [c["query"]["timespan"] for c in monitor.calls if c["query"]["metricnames"] == "RequestsPerMinute"]
    assert spans == ["2025-03-01T12:00:00.000Z/2025-03-02T12:00:00.000Z",
                     "2025-03-02T12:00:00.000Z/2025-03-03T12:00:00.000Z",
                     "2025-03-03T12:00:00.000Z/2025-03-03T15:00:20.000Z"]
    assert all(c["query"]["interval"] == "PT1M" for c in monitor.calls)
    assert (health.requests, health.p95_latency_ms) == (30, 60.0)  # each day's answer counts once


def test_an_empty_window_and_a_naive_one():
    monitor = Monitor({})
    assert read(monitor, start=END, end=END) == Health(0, 0, None, None, "Azure Monitor")
    assert monitor.calls == []
    with pytest.raises(ValueError, match="no time zone"):
        read(monitor, start=START.replace(tzinfo=None))


def test_a_quote_in_a_deployment_name_stays_inside_the_filter():
    assert azure_health.requests_filter("o'brien") == "deployment eq 'o''brien' and statusCodeClass eq '*'"
