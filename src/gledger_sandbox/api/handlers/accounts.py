"""Accounts, their balances and statements, and the balances of a whole ledger."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import idempotent, json_response, tenant
from gledger_sandbox.domain.ledger.models import AccountKind


@idempotent("createAccount")
async def create_account(ledger_id: str, body: dict[str, Any]) -> Response:
    created = tenant().store.create_account(ledger_id, serializers.account_spec(body))
    return json_response(serializers.account(created), 201)


async def list_accounts(
    ledger_id: str,
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    code: str | None = None,
    kind: str | None = None,
) -> Response:
    found = tenant().store.list_accounts(
        ledger_id, page_request(limit, cursor, order), code, AccountKind(kind) if kind else None
    )
    return json_response(serializers.page(found, serializers.account))


async def get_account(account_id: str) -> Response:
    return json_response(serializers.account(tenant().store.account(account_id)))


async def update_account(account_id: str, body: dict[str, Any]) -> Response:
    store = tenant().store
    changes = serializers.account_changes(body, store.account(account_id))
    return json_response(serializers.account(store.update_account(account_id, changes)))


async def get_account_balance(account_id: str, as_of: str | None = None) -> Response:
    store = tenant().store
    account = store.account(account_id)
    if as_of is None:
        return json_response(serializers.balance(account, account.posted, None))
    moment = serializers.parse_timestamp(as_of, "/query/as_of")
    return json_response(serializers.balance(account, store.posted_as_of(account, moment), moment))


async def list_account_lines(
    account_id: str, limit: int = 50, cursor: str | None = None, order: str = "desc"
) -> Response:
    found = tenant().store.list_statement(account_id, page_request(limit, cursor, order))
    return json_response(serializers.page(found, serializers.statement_line))


async def list_ledger_balances(
    ledger_id: str,
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    currency: str | None = None,
) -> Response:
    found = tenant().store.list_accounts(
        ledger_id, page_request(limit, cursor, order), currency=currency
    )
    return json_response(serializers.page(found, serializers.ledger_balance))
