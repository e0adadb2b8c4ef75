"""The two HTTP faces of n8n the checks use, with the standard library only.

* `PublicApi`: n8n's public API (`/api/v1`, header `X-N8N-API-KEY`) — what an operator can use against
  a live deployment: workflows, activation, executions.
* `EditorSession`: the editor's own REST API (`/rest`, the `n8n-auth` cookie) — owner setup, API keys,
  and running a workflow manually exactly as the editor's "Execute workflow" button does.

Every request has a timeout; errors carry the method, path, status and n8n's message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT = 30
BROWSER_ID = "n8n-platform-checks"  # n8n binds its session cookie to the editor's browser-id header


class ApiError(RuntimeError):
    def __init__(self, method: str, url: str, status: int | None, message: str):
        self.status = status
        super().__init__(f"{method} {urllib.parse.urlsplit(url).path} -> "
                         f"{status if status is not None else 'no response'}: {message}")


def request(method: str, url: str, body: Any = None, headers: dict | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> tuple[int, dict, Any]:
    """(status, response headers, parsed JSON or text). Raises ApiError on HTTP >= 400 or no answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Accept": "application/json", **(headers or {}),
                                          **({"Content-Type": "application/json"} if data is not None else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), _parse(raw)
    except urllib.error.HTTPError as err:
        payload = _parse(err.read())
        message = payload.get("message", payload) if isinstance(payload, dict) else payload
        raise ApiError(method, url, err.code, str(message)[:500]) from None
    except (urllib.error.URLError, OSError) as err:  # refused, reset, timed out
        raise ApiError(method, url, None, str(getattr(err, "reason", err))) from None


def _parse(raw: bytes) -> Any:
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class PublicApi:
    base_url: str
    api_key: str
    timeout: float = DEFAULT_TIMEOUT

    def call(self, method: str, path: str, body: Any = None, **query) -> Any:
        q = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query.items() if v is not None}
        url = f"{self.base_url.rstrip('/')}/api/v1{path}" + (f"?{urllib.parse.urlencode(q)}" if q else "")
        return request(method, url, body, {"X-N8N-API-KEY": self.api_key}, self.timeout)[2]

    def paged(self, path: str, **query) -> Iterator[dict]:
        cursor = None
        while True:
            page = self.call("GET", path, limit=100, cursor=cursor, **query)
            yield from page.get("data", [])
            cursor = page.get("nextCursor")
            if not cursor:
                return

    def create_workflow(self, workflow: dict) -> dict:
        return self.call("POST", "/workflows", workflow)

    def activate(self, workflow_id: str) -> dict:
        return self.call("POST", f"/workflows/{workflow_id}/activate")

    def deactivate(self, workflow_id: str) -> dict:
        return self.call("POST", f"/workflows/{workflow_id}/deactivate")

    def delete_workflow(self, workflow_id: str) -> dict:
        return self.call("DELETE", f"/workflows/{workflow_id}")

    def workflows(self) -> list[dict]:
        return list(self.paged("/workflows"))

    def executions(self, workflow_id: str, include_data: bool = False) -> list[dict]:
        return list(self.paged("/executions", workflowId=workflow_id, includeData=include_data))

    def execution(self, execution_id: str) -> dict:
        return self.call("GET", f"/executions/{execution_id}", includeData=True)


@dataclass
class EditorSession:
    base_url: str
    cookie: str = ""
    headers: dict = field(default_factory=lambda: {"browser-id": BROWSER_ID})

    def call(self, method: str, path: str, body: Any = None, timeout: float = DEFAULT_TIMEOUT) -> Any:
        headers = dict(self.headers)
        if self.cookie:
            headers["Cookie"] = self.cookie
        _status, resp_headers, payload = request(method, f"{self.base_url.rstrip('/')}/rest{path}", body, headers,
                                                timeout)
        for name, value in resp_headers.items():
            if name.lower() == "set-cookie" and value.startswith("n8n-auth="):
                self.cookie = value.split(";", 1)[0]
        return payload.get("data", payload) if isinstance(payload, dict) else payload

    def setup_owner(self, email: str, password: str) -> None:
        self.call("POST", "/owner/setup", {"email": email, "firstName": "Rehearsal", "lastName": "Owner",
                                           "password": password})

    def login(self, email: str, password: str) -> None:
        self.call("POST", "/login", {"emailOrLdapLoginId": email, "password": password})

    def create_api_key(self, label: str) -> str:
        scopes = self.call("GET", "/api-keys/scopes")
        return self.call("POST", "/api-keys", {"label": label, "scopes": scopes, "expiresAt": None})["rawApiKey"]

    def run_manually(self, workflow_id: str, trigger_name: str) -> str:
        """What the editor's "Execute workflow" button sends; returns the execution id."""
        result = self.call("POST", f"/workflows/{workflow_id}/run", {"triggerToStartFrom": {"name": trigger_name}})
        return str(result["executionId"])
