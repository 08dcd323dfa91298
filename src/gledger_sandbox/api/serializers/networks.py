"""The JSON shape of a tenant's allowed client networks."""

from __future__ import annotations

from gledger_sandbox.api.serializers import Json
from gledger_sandbox.domain.sandbox.tenant import Tenant


def allowed_networks(found: Tenant, client: str | None) -> Json:
    return {
        "networks": [str(network) for network in found.allowed_networks],
        "client_address": client,
    }
