"""Recorded fixture names: a replay answers exactly what Faker would, without importing Faker."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import build_services
from gledger_sandbox.domain.sandbox.tenant import Tenant
from gledger_sandbox.seeding.names import SeededNames, new_faker

SRC = Path(__file__).resolve().parents[2] / "src"
CLOCK = datetime(2026, 6, 1, tzinfo=UTC)
ASKS = [("company", ()), ("name", ()), ("email", ()), ("sentence", (4,)), ("name", ())] * 3


def _ask_all(names: SeededNames, asks: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    return [str(getattr(names, method)(*args)) for method, args in asks]


def _fakers_own(seed: int, asks: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    fake = new_faker(seed)
    return [str(getattr(fake, method)(*args)) for method, args in asks]


def test_a_replay_of_the_same_calls_answers_from_the_recording_alone() -> None:
    recorded = SeededNames(7)
    assert _ask_all(recorded, ASKS) == _fakers_own(7, ASKS)
    replay = SeededNames(7, tuple(recorded.calls))
    assert _ask_all(replay, ASKS) == _fakers_own(7, ASKS)
    assert replay.replayed_all


@pytest.mark.parametrize("change", ["method", "argument", "longer", "shorter"])
def test_calls_that_leave_the_recording_get_fakers_own_answers(change: str) -> None:
    recorded = SeededNames(3)
    _ask_all(recorded, ASKS)
    asks = list(ASKS)
    if change == "method":
        asks[4] = ("company", ())
    elif change == "argument":
        asks[3] = ("sentence", (6,))
    elif change == "longer":
        asks += [("email", ()), ("company", ())]
    else:
        asks = asks[:5]
    replay = SeededNames(3, tuple(recorded.calls))
    assert _ask_all(replay, asks) == _fakers_own(3, asks)
    assert not replay.replayed_all


def _default_tenant(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Tenant:
    monkeypatch.setenv("GLEDGER_SANDBOX_CACHE", str(cache))
    services = build_services(Settings(api_key="gls_test_names", seed=11, clock_start=CLOCK))
    tenant: Tenant = next(iter(services.registry.tenants.values()))
    return tenant


def _entries(tenant: Tenant) -> list[tuple[object, ...]]:
    return [
        (e.id, e.description, e.effective_at, tuple(sorted(e.metadata.items())))
        for e in tenant.store.entries.values()
    ]


def test_the_default_tenant_seeded_from_its_recording_is_the_same_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _default_tenant(tmp_path, monkeypatch)  # Faker's answers, recorded
    (recording,) = tmp_path.glob("names-*-merchant-11.json")
    again = _default_tenant(tmp_path, monkeypatch)  # replayed
    assert _entries(again) == _entries(first)
    assert len(json.loads(recording.read_bytes())) > 100

    recording.write_bytes(b"[[not json")  # unreadable: Faker again, and a good recording
    assert _entries(_default_tenant(tmp_path, monkeypatch)) == _entries(first)
    assert len(json.loads(recording.read_bytes())) > 100


def test_a_visitors_tenant_leaves_no_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLEDGER_SANDBOX_CACHE", str(tmp_path))
    registry = build_services(Settings(default_tenant=False)).registry
    registry.create("merchant", 12)
    assert list(tmp_path.glob("names-*")) == []


def test_a_start_from_a_recording_does_not_import_faker(tmp_path: Path) -> None:
    start = (
        "import sys\n"
        "from gledger_sandbox.api.settings import Settings\n"
        "from gledger_sandbox.bootstrap import build_services\n"
        "build_services(Settings(api_key='gls_test_names'))\n"
        "print('faker' in sys.modules)\n"
    )
    env = {"PYTHONPATH": str(SRC), "GLEDGER_SANDBOX_CACHE": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", start],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        for _ in range(2)
    ]
    assert [run.stdout.strip() for run in runs] == ["True", "False"], runs[-1].stderr
