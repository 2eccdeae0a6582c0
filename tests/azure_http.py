"""Stand-ins for Azure's side of an HTTP exchange, for tests that run Azure's own client libraries
(azure-keyvault-secrets' and azure-monitor-query's pipelines) with no network: a JSON answer in the
shape `requests` returns it, and a credential that hands out a token and records the scopes asked."""
from __future__ import annotations

import io
import json

import requests
import urllib3
from azure.core.credentials import AccessToken

REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}


def response(method: str, url: str, status: int, body: object) -> requests.Response:
    r = requests.Response()
    r.status_code, r._content, r.url = status, json.dumps(body).encode(), url
    r.reason = REASONS.get(status, "")
    r.headers["Content-Type"] = "application/json"
    r.request = requests.Request(method, url).prepare()
    r.raw = urllib3.HTTPResponse(body=io.BytesIO(r._content), preload_content=False)
    return r


class Credential:
    def __init__(self, token: str = "token-of-the-deploying-identity"):
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **kw):
        self.scopes.append(scopes)
        return AccessToken(self.token, 9_999_999_999)
