"""Reports of a ledger: profit and loss, cash flow and trial balance, derived from posted lines.

``from`` is a Python keyword, so connexion (without ``pythonic_params``) can only hand it over
in ``**query``; ``to`` comes the same way, to keep the pair together.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.responses import json_response, tenant
from gledger_sandbox.api.serializers import reports as shapes
from gledger_sandbox.domain.ledger import reports


async def get_profit_and_loss(
    ledger_id: str, currency: str | None = None, **query: Any
) -> Response:
    found = reports.profit_and_loss(
        tenant().store, ledger_id, shapes.period(query["from"], query["to"]), currency
    )
    return json_response(shapes.profit_and_loss(found))


async def get_cash_flow(ledger_id: str, currency: str | None = None, **query: Any) -> Response:
    found = reports.cash_flow(
        tenant().store, ledger_id, shapes.period(query["from"], query["to"]), currency
    )
    return json_response(shapes.cash_flow(found))


async def get_trial_balance(
    ledger_id: str, as_of: str | None = None, currency: str | None = None
) -> Response:
    moment = serializers.parse_timestamp(as_of, "/query/as_of") if as_of else None
    found = reports.trial_balance(tenant().store, ledger_id, moment, currency)
    return json_response(shapes.trial_balance(found))
