"""The deployment under test: where it is, how the kit authenticates, and the run's time budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from gledger_sandbox.contract.known_ids import KnownIds
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


REFRESH_MARGIN = 60.0
"""Seconds before a token's expiry when the kit asks for the next (at most a fifth of its life)."""


@dataclass(slots=True)
class Credential:
    """The kit's ``Authorization`` header: an API key, or an OAuth2 token kept fresh.

    A run can outlast a token's ``expires_in`` (a long ``--time-budget``, a slow target): the
    token is asked for again shortly before it expires, and once more when the target answers
    401 to it (``renew``), so an expired token never shows up as a contract failure. Every
    value it ever sent is remembered, so that no printed reproduction leaks one.
    """

    api_key: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    clock: Callable[[], float] = time.monotonic
    sent: list[str] = field(default_factory=list)
    """Every header value handed out, the current one last."""
    _renew_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def header(self) -> str:
        """The value to send now (a token close to its expiry is renewed first)."""
        with self._lock:
            if self.api_key:
                if not self.sent:
                    self.sent.append(f"Bearer {self.api_key}")
                return self.sent[-1]
            if not self.sent or (self._renew_at is not None and self.clock() >= self._renew_at):
                self._fetch(first=not self.sent)
            return self.sent[-1]

    def renew(self, refused: str) -> bool:
        """After a 401 to ``refused``: a new token, once; False for an API key or a refusal."""
        with self._lock:
            if self.api_key or not self.sent:
                return False
            if self.sent[-1] != refused:
                return True  # another request renewed it meanwhile
            try:
                self._fetch(first=False)
            except TargetUnreachable:
                return False
            return self.sent[-1] != refused

    def _fetch(self, first: bool) -> None:
        assert self.token_url and self.client_id and self.client_secret
        try:
            answer = request_token(self.token_url, self.client_id, self.client_secret, self.scope)
        except httpx.HTTPError as error:
            if not first:
                return  # keep the current token: it is still valid for the margin
            raise TargetUnreachable(
                f"cannot reach the token endpoint {self.token_url}: {error}"
            ) from error
        if answer.status_code != 200:
            if not first:
                return
            raise TargetUnreachable(
                f"the token endpoint {self.token_url} refused the client: {answer.status_code} "
                f"{answer.text[:300]}"
            )
        grant = answer.json()
        now = self.clock()
        lifetime = grant.get("expires_in")
        self._renew_at = (
            now + float(lifetime) - min(REFRESH_MARGIN, float(lifetime) / 5)
            if isinstance(lifetime, int | float) and lifetime > 0
            else None
        )
        self.sent.append(f"Bearer {grant['access_token']}")

    def state(self) -> dict[str, Any]:
        """What ``Credential(**state)`` needs to go on in another process (a lock does not
        travel: the copy makes its own)."""
        return {
            "api_key": self.api_key,
            "token_url": self.token_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
            "sent": list(self.sent),
            "_renew_at": self._renew_at,
        }

    @property
    def renewals(self) -> int:
        """How many tokens the run asked for after its first."""
        return max(0, len(self.sent) - 1)


def credential(options: ContractOptions, spec: ApiSpec, base_url: str) -> Credential:
    """The kit's credential: the API key, or the OAuth2 client (its first token fetched now)."""
    if options.api_key:
        return Credential(api_key=options.api_key)
    if not (options.client_id and options.client_secret):
        raise ContractUsageError("give --api-key, or --client-id and --client-secret")
    client = Credential(
        token_url=token_endpoint(options, spec, base_url),
        client_id=options.client_id,
        client_secret=options.client_secret,
        scope=options.scope,
    )
    client.header()
    return client


@dataclass(slots=True)
class Target:
    """Everything a phase needs to reach the deployment and record what it finds."""

    base_url: str
    spec: ApiSpec
    options: ContractOptions
    credential: Credential
    deadline: Deadline
    results: Results
    seed: int
    known: KnownIds = field(default_factory=KnownIds)
    """Ids of the kit's own resources by path parameter: the fuzz phase reads them too."""
    fuzzed_endpoints: list[str] = field(default_factory=list)
    """Webhook endpoints the fuzz phases created: deleted at the end of the run, so that the
    tenant does not go on posting its events to generated URLs."""
    fuzzed_api_keys: list[str] = field(default_factory=list)
    """API keys the fuzz phases made: revoked at the end of the run. The kit's own credential
    is never one of them (fuzzing reaches only keys it made, through createApiKey's links)."""

    @property
    def authorization(self) -> str:
        """The ``Authorization`` value to send now."""
        return self.credential.header()
