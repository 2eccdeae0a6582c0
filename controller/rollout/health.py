"""A deployment's health over a window of time, and the gates a rollout step holds it to.

    Health   what the endpoint's metrics say about one deployment between two instants
    Gates    the thresholds of a step (request success rate, p95 latency, HTTP 5xx count) and the
             number of requests below which the metrics say nothing yet
    judge(gates, health) -> Verdict: pass, fail (with why), or wait (too few requests)

Where health comes from is the reader's business: Azure Monitor on Azure
(controller.rollout.azure_health), the simulation's metrics on the local target
(controller.engine.local_metrics). Both give a Health; nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

PASS, FAIL, WAIT = "pass", "fail", "wait"


@dataclass(frozen=True)
class Health:
    requests: int  # requests the deployment answered in the window (live and mirrored)
    http_5xx: int  # of those, answered with a 5xx status
    success_rate: float | None  # percent of requests answered with a 2xx status; None without requests
    p95_latency_ms: float | None  # None when the metrics have no latency for the window
    source: str = ""  # where it was read: "Azure Monitor", "simulation"

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "http_5xx": self.http_5xx, "success_rate": self.success_rate,
                "p95_latency_ms": self.p95_latency_ms, "source": self.source}

    def describe(self) -> str:
        parts = [f"{self.requests} requests"]
        if self.success_rate is not None:
            parts.append(f"{self.success_rate:.2f}% succeeded")
        parts.append(f"{self.http_5xx} HTTP 5xx")
        if self.p95_latency_ms is not None:
            parts.append(f"p95 {self.p95_latency_ms:.0f} ms")
        return ", ".join(parts)


@dataclass(frozen=True)
class Gates:
    success_rate: float | None = None  # at least this percent of requests succeed (2xx)
    p95_latency_ms: float | None = None  # at most this p95 latency
    http_5xx: int | None = None  # at most this many 5xx answers in the window
    min_requests: int = 0  # below this many requests the gate waits: too little to judge

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "Gates":
        d = d or {}
        return cls(success_rate=d.get("success_rate"), p95_latency_ms=d.get("p95_latency_ms"),
                   http_5xx=d.get("http_5xx"), min_requests=int(d.get("min_requests") or 0))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("success_rate", "p95_latency_ms", "http_5xx"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.min_requests:
            out["min_requests"] = self.min_requests
        return out

    @property
    def any(self) -> bool:
        return any(getattr(self, k) is not None for k in ("success_rate", "p95_latency_ms", "http_5xx"))

    def describe(self) -> str:
        parts = []
        if self.success_rate is not None:
            parts.append(f"success rate >= {self.success_rate:g}%")
        if self.p95_latency_ms is not None:
            parts.append(f"p95 latency <= {self.p95_latency_ms:g} ms")
        if self.http_5xx is not None:
            parts.append(f"HTTP 5xx <= {self.http_5xx}")
        if self.min_requests:
            parts.append(f"over at least {self.min_requests} requests")
        return ", ".join(parts) or "no gates"


@dataclass(frozen=True)
class Verdict:
    result: str  # PASS, FAIL or WAIT
    why: str


def judge(gates: Gates, health: Health) -> Verdict:
    """A failed threshold fails the gate as soon as the metrics show it with enough requests:
    a 5xx count over its limit fails even below min_requests (more requests cannot undo it)."""
    seen = health.describe()
    if gates.http_5xx is not None and health.http_5xx > gates.http_5xx:
        return Verdict(FAIL, f"{health.http_5xx} HTTP 5xx > {gates.http_5xx} ({seen})")
    need = max(gates.min_requests, 1 if gates.any else 0)
    if health.requests < need:
        return Verdict(WAIT, f"waits for {need} request{'s' if need != 1 else ''} to judge ({seen})")
    if gates.success_rate is not None:
        rate = health.success_rate if health.success_rate is not None else 0.0
        if rate < gates.success_rate:
            return Verdict(FAIL, f"success rate {rate:.2f}% < {gates.success_rate:g}% ({seen})")
    if gates.p95_latency_ms is not None:
        if health.p95_latency_ms is None:
            return Verdict(WAIT, f"no p95 latency in the metrics yet ({seen})")
        if health.p95_latency_ms > gates.p95_latency_ms:
            return Verdict(FAIL, f"p95 latency {health.p95_latency_ms:.0f} ms > {gates.p95_latency_ms:g} ms ({seen})")
    return Verdict(PASS, seen if gates.any else "no gates")
