"""What ``serve --state-dir`` writes of a tenant beside its state document, and reads back:
the registry's record of it (credentials, expiry, live tokens), its snapshots' records, and its
journal records up to the first that cannot be read. Used by ``durability``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from gledger_sandbox.api import state_dir
from gledger_sandbox.domain.sandbox.snapshot_shelf import Snapshot
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.domain.sandbox.tenants import AccessToken, TenantRegistry

logger = logging.getLogger("gledger_sandbox.durability")


def readable_journal(found: state_dir.Stored) -> list[dict[str, Any]]:
    """The tenant's journal records, up to the first one that cannot be read (logged)."""
    records: list[dict[str, Any]] = []
    for n, record in enumerate(found.journal):
        if record is None:
            logger.warning(
                "tenant %s: journal record %d of %d cannot be read (cut short or changed: its "
                "CRC-32 does not match); the tenant comes back as of the record before it",
                found.record["id"],
                n + 1,
                len(found.journal),
            )
            break
        records.append(record)
    return records


def tenant_record(tenant: Tenant, grants: list[AccessToken]) -> dict[str, Any]:
    """What the registry knows of a tenant (credentials included: this file is the server's)."""
    return {
        "id": tenant.id,
        "fixture": tenant.fixture,
        "seed": tenant.seed,
        "created_at": tenant.created_at.isoformat(),
        "clock_start": tenant.clock_start.isoformat() if tenant.clock_start else None,
        "api_key": tenant.api_key,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "ttl_seconds": tenant.ttl.total_seconds() if tenant.ttl else None,
        "expires_at": iso(tenant.expires_at),
        "snapshot_ids_issued": tenant.snapshots.ids_issued(),
        "tokens": [
            {"token": g.token, "scopes": sorted(g.scopes), "expires_at": g.expires_at.isoformat()}
            for g in grants
        ],
    }


def snapshot_record(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "name": snapshot.name,
        "created_at": snapshot.created_at.isoformat(),
        "event_sequence": snapshot.event_sequence,
        "counts": snapshot.counts,
    }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def tenant_from(found: state_dir.Stored, registry: TenantRegistry) -> Tenant:
    record = found.record
    ttl = record["ttl_seconds"]
    tenant = Tenant(
        id=record["id"],
        fixture=record["fixture"],
        seed=record["seed"],
        created_at=datetime.fromisoformat(record["created_at"]),
        clock_start=moment(record["clock_start"]),
        api_key=record["api_key"],
        client_id=record["client_id"],
        client_secret=record["client_secret"],
        ttl=timedelta(seconds=ttl) if ttl is not None else None,
        expires_at=moment(record["expires_at"]),
        policy=registry.policy,
    )
    kept = [
        Snapshot(
            r["id"],
            r["name"],
            datetime.fromisoformat(r["created_at"]),
            r["event_sequence"],
            r["counts"],
            document,
        )
        for r, document in found.snapshots
    ]
    tenant.snapshots.readmit(kept, record["snapshot_ids_issued"])
    return tenant


def grants_from(record: dict[str, Any]) -> list[AccessToken]:
    return [
        AccessToken(
            t["token"],
            record["id"],
            frozenset(t["scopes"]),
            datetime.fromisoformat(t["expires_at"]),
        )
        for t in record["tokens"]
    ]
