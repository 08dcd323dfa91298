"""Fixture profiles (YAML): a chart of accounts per ledger, and a scenario of business events.

A profile is read once, when the server starts. Seeding a tenant writes only through the
domain's commands, so fixtures obey every invariant; the same profile and seed give the same
data, byte for byte, whatever the tenant. Names and memos are Faker's (``names``): for the
default tenant, replayed from its recording when an earlier start kept one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gledger_sandbox.domain.ledger.models import AccountFlags, AccountKind, AccountSpec
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.seeding.names import (
    Call,
    RecordingStore,
    SeededNames,
    dump_recording,
    load_recording,
    recording_name,
)
from gledger_sandbox.seeding.scenario import play_scenario
from gledger_sandbox.seeding.story import Chart


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    ledgers: tuple[dict[str, Any], ...]
    scenario: dict[str, Any] | None


def load_profile(path: Path) -> Profile:
    # libyaml's loader when PyYAML has it (a millisecond, not fifteen, at every start).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(raw, dict) or raw.get("name") != path.stem:
        raise ValueError(f"{path}: a profile is a mapping whose name is its file name")
    return Profile(
        name=raw["name"],
        description=raw.get("description", ""),
        ledgers=tuple(raw.get("ledgers") or ()),
        scenario=raw.get("scenario"),
    )


class Seeder:
    """Fills new tenants from the profiles of a fixtures folder."""

    def __init__(self, folder: Path, recordings: RecordingStore | None = None) -> None:
        self._profiles = {p.stem: load_profile(p) for p in sorted(folder.glob("*.yaml"))}
        if not self._profiles:
            raise ValueError(f"no fixture profiles in {folder}")
        self._recordings = recordings
        self._recalled: dict[tuple[str, int], tuple[Call, ...]] = {}

    def recall(self, fixture: str, seed: int) -> None:
        """Seed ``fixture`` with ``seed`` from its recorded names, and keep them recorded.

        For the default tenant only: a visitor's tenant, of any seed, leaves nothing on disk.
        """
        if self._recordings is not None:
            data = self._recordings.read(recording_name(fixture, seed))
            self._recalled[(fixture, seed)] = load_recording(data)

    @property
    def profiles(self) -> frozenset[str]:
        return frozenset(self._profiles)

    def __call__(self, tenant: Tenant) -> Iterator[None]:
        """Seed ``tenant`` in steps of a few milliseconds each (see ``TenantRegistry``)."""
        profile = self._profiles[tenant.fixture]
        key = (tenant.fixture, tenant.seed)
        fake = SeededNames(tenant.seed, self._recalled.get(key, ()))
        yield from self._seed(tenant, profile, fake)
        if key in self._recalled and not fake.replayed_all and self._recordings is not None:
            self._recalled[key] = tuple(fake.calls)
            self._recordings.write(recording_name(*key), dump_recording(fake.calls))

    def _seed(self, tenant: Tenant, profile: Profile, fake: SeededNames) -> Iterator[None]:
        store = tenant.store
        charts: dict[str, Chart] = {}
        for spec in profile.ledgers:
            ledger = store.create_ledger(
                spec["name"].format(company=fake.company()),
                spec.get("description"),
                {"fixture": profile.name},
            )
            accounts = {}
            for account in spec.get("accounts", ()):
                created = store.create_account(
                    ledger.id,
                    AccountSpec(
                        code=account["code"],
                        name=account["name"],
                        kind=AccountKind(account["kind"]),
                        currency=account.get("currency", spec["currency"]),
                        flags=AccountFlags(**account.get("flags", {})),
                    ),
                )
                accounts[created.code] = created.id
            charts[spec["key"]] = Chart(
                ledger.id, spec["currency"], accounts, spec.get("opening_balance")
            )
            yield
        if profile.scenario is not None:
            yield from play_scenario(
                tenant, charts[profile.scenario["ledger"]], profile.scenario, fake
            )
