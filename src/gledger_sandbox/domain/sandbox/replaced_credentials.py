"""A tenant's own credentials that a rotation replaced (``rotateTenantCredentials``).

The key a tenant is created with, and its OAuth client secret, can be given new secrets. The
replaced one works on for a grace period of wall time (0: it stops at once), then is told
apart from an unknown secret: its API key answers 401 ``api_key_rotated``, its client secret
``invalid_client`` saying it was rotated. Only the last replaced secret of each kind is kept
(a second rotation ends the first one's grace at once), and only as its SHA-256, as for the
keys a tenant makes (``api_keys``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gledger_sandbox.domain.sandbox.api_keys import Refusal, digest

API_KEY = "api_key"
CLIENT_SECRET = "client_secret"
KINDS = (API_KEY, CLIENT_SECRET)


@dataclass(frozen=True, slots=True)
class Replaced:
    """One replaced secret: its digest, and until when it still works."""

    digest: str
    until: datetime


class ReplacedCredentials:
    """Per tenant, its replaced API key and client secret; and whose a replaced key was."""

    def __init__(self) -> None:
        self._of: dict[str, dict[str, Replaced]] = {}
        self._key_tenants: dict[str, str] = {}
        """Digest of a replaced API key -> its tenant id."""

    def replace(self, tenant_id: str, kind: str, secret: str, until: datetime) -> None:
        """``secret`` (the tenant's current one of ``kind``) is being replaced."""
        kept = self._of.setdefault(tenant_id, {})
        earlier = kept.get(kind)
        if earlier is not None and kind == API_KEY:
            self._key_tenants.pop(earlier.digest, None)
        kept[kind] = Replaced(digest(secret), until)
        if kind == API_KEY:
            self._key_tenants[kept[kind].digest] = tenant_id

    def api_key_tenant(self, secret: str, now: datetime) -> str | None:
        """The tenant whose replaced API key ``secret`` is, while its grace lasts."""
        if not self._key_tenants:
            return None
        tenant_id = self._key_tenants.get(digest(secret))
        if tenant_id is None or self._of[tenant_id][API_KEY].until <= now:
            return None
        return tenant_id

    def api_key_owner(self, secret: str) -> str | None:
        """Whose replaced API key ``secret`` is or was (in its grace or not)."""
        return self._key_tenants.get(digest(secret)) if self._key_tenants else None

    def refusal(self, secret: str, now: datetime) -> Refusal | None:
        """Why a replaced API key no longer works, once its grace has ended."""
        tenant_id = self.api_key_owner(secret)
        if tenant_id is None or self._of[tenant_id][API_KEY].until > now:
            return None
        return Refusal(
            "api_key_rotated",
            "This was the tenant's API key until a rotation replaced it "
            "(POST /v1/sandbox/tenant/rotate-credentials): use the key that rotation returned.",
        )

    def client_secret_state(self, tenant_id: str, secret: str, now: datetime) -> str | None:
        """``"working"`` for a replaced client secret in its grace, ``"ended"`` after it,
        None when ``secret`` is not the tenant's replaced one."""
        replaced = self._of.get(tenant_id, {}).get(CLIENT_SECRET)
        if replaced is None or not hmac.compare_digest(replaced.digest, digest(secret)):
            return None
        return "working" if replaced.until > now else "ended"

    def forget(self, tenant_id: str) -> None:
        """Drop a deleted tenant's replaced secrets."""
        for kind, replaced in self._of.pop(tenant_id, {}).items():
            if kind == API_KEY:
                self._key_tenants.pop(replaced.digest, None)

    def to_record(self, tenant_id: str) -> dict[str, Any]:
        """The tenant's replaced secrets as JSON values (digests only), for ``--state-dir``."""
        return {
            kind: {"digest": r.digest, "until": r.until.isoformat()}
            for kind, r in self._of.get(tenant_id, {}).items()
        }

    def readmit(self, tenant_id: str, record: dict[str, Any]) -> None:
        """Take back what ``to_record`` wrote (a previous run of the server)."""
        for kind, value in record.items():
            if kind not in KINDS:
                continue
            replaced = Replaced(value["digest"], datetime.fromisoformat(value["until"]))
            self._of.setdefault(tenant_id, {})[kind] = replaced
            if kind == API_KEY:
                self._key_tenants[replaced.digest] = tenant_id
