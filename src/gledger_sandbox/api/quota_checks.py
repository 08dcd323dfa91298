"""The tenant's ``metadata_bytes`` quota, charged where every JSON body is read.

Metadata rides on almost every write (ledgers, accounts, entries and batch items, settlements,
payouts, webhook endpoints, their patches), so the one place that sees them all is the body
validator: once a body has passed the schema, the bytes of each ``metadata`` map in it (as
compact JSON) count against the caller's tenant, and a body that would pass the quota is
refused whole (422 ``quota.metadata_bytes``) before any handler runs.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Scope

from gledger_sandbox.domain.sandbox.tenants import Principal

SEARCH_DEPTH = 3
"""Metadata sits at the top of a body, or one list down (a batch's items): no deeper."""


def metadata_bytes(body: Any, depth: int = SEARCH_DEPTH) -> int:
    """Bytes of every ``metadata`` map in ``body`` (compact JSON), within ``SEARCH_DEPTH``."""
    if depth <= 0:
        return 0
    if isinstance(body, list):
        return sum(metadata_bytes(item, depth - 1) for item in body)
    if not isinstance(body, dict):
        return 0
    total = 0
    for key, value in body.items():
        if key == "metadata" and isinstance(value, dict):
            total += len(orjson.dumps(value))
        elif isinstance(value, list | dict):
            total += metadata_bytes(value, depth - 1)
    return total


def charge_metadata(scope: Scope, body: Any) -> None:
    """Count ``body``'s metadata against the caller's tenant (refusing it past the quota)."""
    token_info = scope.get("extensions", {}).get("connexion_context", {}).get("token_info")
    caller = token_info.get("principal") if isinstance(token_info, dict) else None
    if not isinstance(caller, Principal):
        return  # no tenant yet (tenant creation): nothing to charge
    store = caller.tenant.store
    if store.quotas.metadata_bytes is None and not caller.tenant.policy.count_metadata:
        return
    size = metadata_bytes(body)
    if size:
        store.quotas.check("metadata_bytes", store.metadata_bytes, size)
        store.metadata_bytes += size
        store.uow.note("set", store, "metadata_bytes", store.metadata_bytes)  # --state-dir
