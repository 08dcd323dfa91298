"""The deployment under test: where it is, how the kit authenticates, and the run's time budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from gledger_sandbox.contract.options import ContractOptions, ContractUsageError, TargetUnreachable
from gledger_sandbox.contract.report import Results
from gledger_sandbox.contract.spec import ApiSpec

REQUEST_TIMEOUT = 15.0
"""Seconds any one request of the kit may take (a hung target must not hang CI)."""


@dataclass(slots=True)
class Deadline:
    """The time budget of the whole run; ``None`` never runs out."""

    budget: float | None
    started: float = field(default_factory=time.monotonic)
    cut_short: bool = False
    """Some work was skipped because the budget ran out."""

    def expired(self) -> bool:
        return self.budget is not None and time.monotonic() - self.started >= self.budget

    def remaining(self, cap: float) -> float:
        """Seconds left, at most ``cap`` (and at least a sliver, so a wait can still poll once)."""
        if self.budget is None:
            return cap
        return max(0.05, min(cap, self.budget - (time.monotonic() - self.started)))

    def spent(self) -> bool:
        """Whether the budget is gone; notes that the run was cut short when it is."""
        if self.expired():
            self.cut_short = True
            return True
        return False


def token_endpoint(options: ContractOptions, spec: ApiSpec, base_url: str) -> str:
    named = options.token_url or spec.token_url()
    if not named:
        raise ContractUsageError("the spec names no OAuth2 token URL: give --token-url")
    return urljoin(base_url.rstrip("/") + "/", named.lstrip("/")) if "://" not in named else named


def request_token(
    token_url: str, client_id: str, client_secret: str, scope: str | None
) -> httpx.Response:
    """An OAuth2 client-credentials token request (the answer is the caller's to judge)."""
    form = {"grant_type": "client_credentials", "client_id": client_id}
    form["client_secret"] = client_secret
    if scope:
        form["scope"] = scope
    return httpx.post(token_url, data=form, timeout=REQUEST_TIMEOUT)


def authorization(options: ContractOptions, spec: ApiSpec, base_url: str) -> str:
    """The ``Authorization`` header value the kit sends: the API key, or a fresh OAuth2 token."""
    if options.api_key:
        return f"Bearer {options.api_key}"
    if not (options.client_id and options.client_secret):
        raise ContractUsageError("give --api-key, or --client-id and --client-secret")
    url = token_endpoint(options, spec, base_url)
    try:
        answer = request_token(url, options.client_id, options.client_secret, options.scope)
    except httpx.HTTPError as error:
        raise TargetUnreachable(f"cannot reach the token endpoint {url}: {error}") from error
    if answer.status_code != 200:
        raise TargetUnreachable(
            f"the token endpoint {url} refused the client: {answer.status_code} {answer.text[:300]}"
        )
    return f"Bearer {answer.json()['access_token']}"


@dataclass(slots=True)
class Target:
    """Everything a phase needs to reach the deployment and record what it finds."""

    base_url: str
    spec: ApiSpec
    options: ContractOptions
    authorization: str
    deadline: Deadline
    results: Results
    seed: int
