"""Ids of resources the kit made, learnt through the spec's OpenAPI links.

Random path ids reach little beyond a 404, so the fuzz phase also reads the kit's own
resources (its ledger, entries, settlements, payouts, reconciliation) to check their 2xx
bodies against the spec. Which id fills which path parameter comes from the links of the
response that carried it (``ledger_id: $response.body#/id``), so the kit needs no knowledge of
id formats and follows whatever links a deployment's spec declares.
"""

from __future__ import annotations

from typing import Any

from gledger_sandbox.contract.spec import Operation

BODY = "$response.body#"


class KnownIds:
    """The latest id seen for each path parameter name."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def learn(self, operation: Operation, status: int, body: Any) -> None:
        """Note the ids a 2xx answer of ``operation`` hands to its links' parameters."""
        if not 200 <= status < 300 or not isinstance(body, dict):
            return
        response = operation.definition.get("responses", {}).get(str(status)) or {}
        for link in (response.get("links") or {}).values():
            for name, expression in (link.get("parameters") or {}).items():
                value = _at(body, expression)
                if isinstance(value, str) and value:
                    self.values[name] = value

    def path_for(self, operation: Operation) -> dict[str, str] | None:
        """Every path parameter of ``operation`` filled with a known id, or None."""
        names = operation.parameter_names("path")
        if not names or not names <= set(self.values):
            return None
        return {name: self.values[name] for name in names}


def _at(body: dict[str, Any], expression: Any) -> Any:
    """The value a ``$response.body#/pointer`` expression names in ``body`` (None otherwise)."""
    if not isinstance(expression, str) or not expression.startswith(BODY):
        return None
    found: Any = body
    for token in expression[len(BODY) :].lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(found, dict):
            found = found.get(token)
        elif isinstance(found, list) and token.isdigit() and int(token) < len(found):
            found = found[int(token)]
        else:
            return None
    return found
