"""The scenarios' HTTP client: every answer it gets goes through the kit's response checks."""

from __future__ import annotations

from typing import Any

import httpx

from gledger_sandbox.contract.curl import curl_for
from gledger_sandbox.contract.report import Failure
from gledger_sandbox.contract.response_checks import RESPONSE_CHECK_FUNCTIONS, ResponseFacts
from gledger_sandbox.contract.spec import Operation
from gledger_sandbox.contract.target import REQUEST_TIMEOUT, Credential, Target


class KitClient:
    """httpx against the target with one credential (or none), checking each response it gets.

    A failed response check is recorded under the operation the request went to; a scenario
    calls ``fail`` for what its own logic finds, with the request that shows it as curl. With
    the run's ``Credential`` each request sends its current value, and a 401 to a token gets
    the request sent once more with a renewed one.
    """

    def __init__(self, target: Target, phase: str, authorization: str | Credential | None) -> None:
        self.target = target
        self.phase = phase
        self._credential = authorization if isinstance(authorization, Credential) else None
        fixed = authorization if isinstance(authorization, str) else None
        headers = {"Authorization": fixed} if fixed else {}
        self._http = httpx.Client(
            base_url=target.base_url, headers=headers, timeout=REQUEST_TIMEOUT
        )

    def __enter__(self) -> KitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, path, kwargs)
        self._check(response)
        return response

    def _send(self, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        if self._credential is None:
            return self._http.request(method, path, **kwargs)
        extra = kwargs.pop("headers", None) or {}
        sent = self._credential.header()
        response = self._http.request(
            method, path, headers={**extra, "Authorization": sent}, **kwargs
        )
        if response.status_code == 401 and self._credential.renew(sent):
            renewed = {**extra, "Authorization": self._credential.header()}
            response = self._http.request(method, path, headers=renewed, **kwargs)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def operation_of(self, response: httpx.Response) -> str:
        """The operationId the response answered, or ``METHOD /path`` off the spec."""
        return _operation_name(response, self._operation(response))

    def _operation(self, response: httpx.Response) -> Operation | None:
        request = response.request
        return self.target.spec.find(request.method, request.url.path)

    def fail(
        self, check: str, message: str, response: httpx.Response | None = None, *, name: str = ""
    ) -> None:
        """Record a failure of ``check``, on ``name`` or the operation ``response`` answered."""
        operation = name or (self.operation_of(response) if response is not None else "scenario")
        curl = curl_for(response.request) if response is not None else None
        if response is not None:
            message += f"\n  answered {response.status_code}: {_excerpt(response)}"
        self.target.results.failed(self.phase, Failure(check, operation, message, curl))

    def passed(self, check: str, name: str) -> None:
        self.target.results.passed(self.phase, check, name)

    def _check(self, response: httpx.Response) -> None:
        facts = ResponseFacts.of_httpx(response)
        found = self._operation(response)
        if found is not None and facts.media_type == "application/json":
            self.target.known.learn(found, response.status_code, facts.json())
        operation = _operation_name(response, found)
        for name, function in RESPONSE_CHECK_FUNCTIONS.items():
            if not self.target.options.wants(name):
                continue
            problems = function(facts)
            if problems:
                self.fail(name, "; ".join(problems), response, name=operation)
            elif problems is not None:
                self.passed(name, operation)


def _operation_name(response: httpx.Response, found: Operation | None) -> str:
    request = response.request
    return found.id if found else f"{request.method} {request.url.path}"


def _excerpt(response: httpx.Response, limit: int = 400) -> str:
    text = response.text.strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
