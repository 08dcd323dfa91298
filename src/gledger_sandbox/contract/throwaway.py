"""The operations that would end the kit's own tenant (``SELF_DESTRUCTIVE``: delete, reset,
rotating its credentials), fuzzed like the others, each on a throwaway tenant of its own.

Where the target offers ``createTenant``, the kit makes an empty tenant and sends the
operation's cases with its key. A case that ends that key (a delete, a rotation) is followed
by the key the answer gave, or a new throwaway tenant; at the end the last one is deleted.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import httpx

from gledger_sandbox.contract.target import REQUEST_TIMEOUT, Target

TENANTS = "/v1/sandbox/tenants"


class Throwaway:
    """The credential of a tenant made for the cases of one operation, renewed when a case
    ends it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.base = target.base_url.rstrip("/")
        self.key: str | None = None

    def authorization(self) -> str | None:
        """``Bearer <key>`` of the current throwaway tenant (made now if needed), or None
        when the target would not make one."""
        if self.key is None:
            self.key = self._create()
        return f"Bearer {self.key}" if self.key else None

    def after(self, operation_id: str, response: Any) -> None:
        """Follow what a case did to the throwaway tenant's key."""
        if not 200 <= response.status_code < 300:
            return
        if operation_id == "deleteTenant":
            self.key = None
        elif operation_id == "rotateTenantCredentials":
            try:
                self.key = str(response.json()["api_key"])
            except (ValueError, KeyError, TypeError):
                self.key = None  # an answer without the new key: start again on a new tenant

    def _create(self) -> str | None:
        try:
            created = httpx.post(
                self.base + TENANTS, json={"fixture": "empty"}, timeout=REQUEST_TIMEOUT
            )
            if created.status_code == 422:  # a target without the "empty" fixture
                created = httpx.post(self.base + TENANTS, json={}, timeout=REQUEST_TIMEOUT)
            key = created.json().get("api_key") if created.status_code == 201 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return str(key) if key else None

    def __enter__(self) -> Throwaway:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.key:  # (if this fails, the sandbox expires the tenant after its idle time)
            with contextlib.suppress(httpx.HTTPError):
                httpx.delete(
                    self.base + "/v1/sandbox/tenant",
                    headers={"Authorization": f"Bearer {self.key}"},
                    timeout=REQUEST_TIMEOUT,
                )
