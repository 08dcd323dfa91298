"""Clients generated from the served spec by partners' tools work against the real server.

openapi-python-client generates a Python client from ``GET /v1/openapi.json`` of a running
sandbox, and that client drives a partner's first day; openapi-typescript's types type-check a
usage file with ``tsc``, and refuse wrong uses.
"""

from __future__ import annotations

import datetime
import importlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import ServerThread
from tests.node_tools import run_tool

PACKAGE = "gledger_generated_client"
# 122 schemas of the spec and a few enums of their own per nullable enum; 1,566 when the spec
# was served dereferenced (a model per inlined copy).
MAX_MODELS = 200


@pytest.fixture(scope="module")
def served_spec(server: ServerThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = tmp_path_factory.mktemp("served") / "openapi.json"
    spec.write_bytes(httpx.get(f"{server.url}/v1/openapi.json").content)
    return spec


@pytest.fixture(scope="module")
def client_package(
    served_spec: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    out = tmp_path_factory.mktemp("python-client")
    config = out / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the test imports the code only
    generator = Path(sys.executable).with_name("openapi-python-client")
    arguments = ["--path", served_spec, "--meta", "none", "--config", config]
    done = subprocess.run(
        [generator, "generate", *arguments, "--output-path", out / PACKAGE],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_generator_makes_one_model_per_schema(client_package: ModuleType) -> None:
    models = [p for p in Path(client_package.__file__).parent.joinpath("models").glob("*.py")]
    assert 100 < len(models) - 1 < MAX_MODELS  # less __init__.py


def test_a_generated_python_client_drives_a_partners_first_day(
    server: ServerThread, client_package: ModuleType
) -> None:
    models = _module("models")
    api = lambda name: _module(f"api.{name}")  # noqa: E731
    with client_package.Client(base_url=server.url) as anonymous:
        created = api("sandbox.create_tenant").sync_detailed(
            client=anonymous,
            body=models.TenantCreateInput(fixture=models.FixtureName("merchant"), seed=20240501),
        )
    assert created.status_code == 201, created.content
    tenant = created.parsed
    assert isinstance(tenant, models.TenantCredentials)
    with client_package.AuthenticatedClient(base_url=server.url, token=tenant.api_key) as client:
        _first_day(client, api, models)


def _first_day(client: Any, api: Any, models: Any) -> None:

    ledger = api("ledgers.create_ledger").sync(
        client=client, body=models.LedgerCreateInput(name="First day")
    )
    assert isinstance(ledger, models.Ledger) and ledger.id.startswith("ldg_")
    accounts = {
        code: api("accounts.create_account").sync(
            ledger_id=ledger.id,
            client=client,
            body=models.AccountCreateInput(
                code=code, name=code.title(), kind=models.AccountKind(kind), currency="USD"
            ),
        )
        for code, kind in (("cash", "asset"), ("revenue", "revenue"))
    }
    assert all(isinstance(a, models.Account) for a in accounts.values())

    entry = models.EntryInput(
        ledger_id=ledger.id,
        lines=[
            models.EntryLineInput(
                account_id=accounts["cash"].id, direction=models.Direction("debit"), amount=10_000
            ),
            models.EntryLineInput(
                account_id=accounts["revenue"].id,
                direction=models.Direction("credit"),
                amount=10_000,
            ),
        ],
        description="First sale",
    )
    key = str(uuid.uuid4())
    create_entry = api("entries.create_entry")
    first = create_entry.sync_detailed(client=client, body=entry, idempotency_key=key)
    replay = create_entry.sync_detailed(client=client, body=entry, idempotency_key=key)
    assert first.status_code == 201 and replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    posted = first.parsed
    assert isinstance(posted, models.Entry) and posted.void_reason is None
    assert [line.amount for line in posted.lines] == [10_000, 10_000]

    balance = api("accounts.get_account_balance").sync(
        account_id=accounts["cash"].id, client=client
    )
    assert isinstance(balance, models.Balance)
    assert balance.posted.amount == 10_000

    _changes_and_treasury(client, api, models, ledger, accounts, posted)
    _every_entry_of_the_seeded_ledger(client, api, models)
    _every_event(client, api, models)

    unbalanced = create_entry.sync_detailed(
        client=client,
        body=models.EntryInput(
            ledger_id=ledger.id,
            lines=[
                models.EntryLineInput(
                    account_id=accounts["cash"].id, direction=models.Direction("debit"), amount=1
                ),
                models.EntryLineInput(
                    account_id=accounts["revenue"].id,
                    direction=models.Direction("credit"),
                    amount=2,
                ),
            ],
        ),
    )
    assert unbalanced.status_code == 422
    assert isinstance(unbalanced.parsed, models.Problem)
    assert unbalanced.parsed.code == "validation.unbalanced_entry"
    assert unbalanced.parsed.request_id == unbalanced.headers["X-GLedger-Request-Id"]


def _changes_and_treasury(
    client: Any, api: Any, models: Any, ledger: Any, accounts: dict[str, Any], entry: Any
) -> None:
    """The changes whose events a seeded day lacks: updates, a failed settlement, a match."""
    metadata = models.Metadata.from_dict({"team": "finance"})
    assert api("ledgers.update_ledger").sync(
        ledger_id=ledger.id, client=client, body=models.LedgerUpdateInput(metadata=metadata)
    ).metadata.additional_properties == {"team": "finance"}
    assert isinstance(
        api("accounts.update_account").sync(
            account_id=accounts["cash"].id,
            client=client,
            body=models.AccountUpdateInput(name="Cash at bank"),
        ),
        models.Account,
    )
    assert isinstance(
        api("entries.update_entry").sync(
            entry_id=entry.id, client=client, body=models.EntryUpdateInput(metadata=metadata)
        ),
        models.Entry,
    )
    empty = api("accounts.create_account").sync(
        ledger_id=ledger.id,
        client=client,
        body=models.AccountCreateInput(
            code="clearing", name="Clearing", kind=models.AccountKind("asset"), currency="USD"
        ),
    )
    now = api("sandbox.get_clock").sync(client=client).now
    scheduled = api("settlements.create_settlement").sync(
        client=client,
        body=models.SettlementInput(
            ledger_id=ledger.id,
            account_id=empty.id,
            contra_account_id=accounts["cash"].id,
            up_to=now + datetime.timedelta(seconds=60),
        ),
    )
    assert scheduled.status.value == "scheduled" and scheduled.direction is None
    api("sandbox.advance_clock").sync(client=client, body=models.ClockAdvanceInput(seconds=120))
    settled = api("settlements.get_settlement").sync(settlement_id=scheduled.id, client=client)
    assert settled.status.value == "failed"
    run = api("reconciliations.create_reconciliation").sync(
        client=client,
        body=models.ReconciliationInput(
            ledger_id=ledger.id,
            account_id=accounts["cash"].id,
            records=[
                models.ReconciliationRecordInput(
                    id="bank-1",
                    amount=10_000,
                    direction=models.Direction("debit"),
                    date=entry.effective_at.date().isoformat(),
                )
            ],
        ),
    )
    assert isinstance(run, models.Reconciliation), run
    assert run.summary.matched_records == 1


def _every_entry_of_the_seeded_ledger(client: Any, api: Any, models: Any) -> None:
    ledgers = api("ledgers.list_ledgers").sync(client=client, limit=500)
    seeded = next(ledger for ledger in ledgers.data if ledger.name != "First day")
    list_entries = api("entries.list_entries")
    raw_count, parsed, cursor = 0, [], None
    while True:
        page = list_entries.sync_detailed(
            client=client, ledger_id=seeded.id, limit=100, **({"cursor": cursor} if cursor else {})
        )
        raw_count += len(httpx.Response(200, content=page.content).json()["data"])
        assert isinstance(page.parsed, models.EntryPage)
        parsed += page.parsed.data
        if not page.parsed.has_more:
            break
        cursor = page.parsed.next_cursor
    assert len(parsed) == raw_count > 20
    assert all(isinstance(entry, models.Entry) for entry in parsed)
    assert len({entry.id for entry in parsed}) == len(parsed)
    statuses = {entry.status.value for entry in parsed}
    assert "posted" in statuses


def _every_event(client: Any, api: Any, models: Any) -> None:
    list_events = api("events.list_events")
    seen: dict[str, int] = {}
    after = 0
    while True:
        page = list_events.sync_detailed(client=client, after=after, limit=500)
        raw = httpx.Response(200, content=page.content).json()["data"]
        assert isinstance(page.parsed, models.EventPage)
        for event, sent in zip(page.parsed.data, raw, strict=True):
            assert isinstance(event, models.Event)
            assert event.id == sent["id"] and event.data.id == sent["data"]["id"]
            kind = event.type_ if isinstance(event.type_, str) else event.type_.value
            assert kind == sent["type"]
            seen[kind] = seen.get(kind, 0) + 1
        after = page.parsed.next_after
        if not page.parsed.has_more:
            break
    # The merchant profile and the day above cause every kind of event there is.
    assert {str(kind) for kind in seen} == {m.value for m in models.EventType}, seen


def test_typescript_types_check_a_usage_and_refuse_wrong_uses(
    served_spec: Path, tmp_path: Path
) -> None:
    types = tmp_path / "gledger.d.ts"
    # By default openapi-typescript makes a field with a default required, in requests too.
    generated = run_tool(
        "openapi-typescript", served_spec, "--output", types, "--default-non-nullable", "false"
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    usage = tmp_path / "usage.ts"
    shutil.copy(Path(__file__).parent / "ts" / "usage.ts", usage)
    checked = run_tool(
        "tsc", "--noEmit", "--strict", "--target", "es2022", "--module", "es2022",
        "--moduleResolution", "bundler", usage, cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
