"""Webhook endpoints, their deliveries, retries, replays, secret rotation and test pings.

Attempts that a request asks for (a retry, a replay, a ping) start at once; a retry and a ping
wait for their attempt, so the answer shows its outcome.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from starlette.responses import Response

from gledger_sandbox.api import serializers
from gledger_sandbox.api.handlers.pages import page_request
from gledger_sandbox.api.responses import idempotent, json_response, services, tenant
from gledger_sandbox.domain.errors import InvalidRequest
from gledger_sandbox.domain.live.webhook_models import DeliveryStatus
from gledger_sandbox.webhooks.outbound import TargetRefused
from gledger_sandbox.webhooks.signing import new_secret


async def _allowed_target(url: str) -> None:
    """Refuse a target the server's outbound policy forbids (``serve --public``): 422."""
    try:
        await services().outbound.check_at_creation(httpx.URL(url))
    except TargetRefused as refused:
        raise InvalidRequest.at(
            "/url", "webhook.url_not_allowed", f"This webhook URL is not allowed: {refused}."
        ) from None


@idempotent("createWebhookEndpoint")
async def create_webhook_endpoint(body: dict[str, Any]) -> Response:
    spec = serializers.endpoint_spec(body)
    await _allowed_target(spec.url)
    secret = new_secret()
    created = tenant().webhooks.create_endpoint(spec, secret)
    return json_response(serializers.webhook_endpoint(created, secret), 201)


async def list_webhook_endpoints(
    limit: int = 50, cursor: str | None = None, order: str = "desc"
) -> Response:
    found = tenant().webhooks.list_endpoints(page_request(limit, cursor, order))
    return json_response(serializers.page(found, serializers.webhook_endpoint))


async def get_webhook_endpoint(endpoint_id: str) -> Response:
    return json_response(serializers.webhook_endpoint(tenant().webhooks.endpoint(endpoint_id)))


async def update_webhook_endpoint(endpoint_id: str, body: dict[str, Any]) -> Response:
    caller = tenant()
    changes = serializers.endpoint_changes(body)
    if "url" in changes:
        await _allowed_target(changes["url"])
    updated = caller.webhooks.update_endpoint(endpoint_id, changes)
    services().runner.dispatch(caller)  # an endpoint enabled again resumes its deliveries
    return json_response(serializers.webhook_endpoint(updated))


async def delete_webhook_endpoint(endpoint_id: str) -> Response:
    tenant().webhooks.delete_endpoint(endpoint_id)
    return Response(status_code=204)


@idempotent("rotateWebhookSecret")
async def rotate_webhook_secret(endpoint_id: str, body: dict[str, Any] | None = None) -> Response:
    body = body or {}
    grace = body.get("expire_previous_after_seconds")
    if grace is None:
        grace = services().settings.webhooks.secret_grace_seconds
    secret = new_secret()
    rotated = tenant().webhooks.rotate_secret(endpoint_id, secret, timedelta(seconds=grace))
    return json_response(serializers.webhook_endpoint(rotated, secret))


@idempotent("testWebhookEndpoint")
async def test_webhook_endpoint(endpoint_id: str) -> Response:
    caller = tenant()
    delivery = caller.webhooks.ping(endpoint_id)
    await services().runner.deliver_now(caller, delivery)
    return json_response(serializers.delivery(delivery))


async def list_webhook_deliveries(
    endpoint_id: str,
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    status: str | None = None,
    event_type: str | None = None,
) -> Response:
    found = tenant().webhooks.list_deliveries(
        endpoint_id,
        page_request(limit, cursor, order),
        status=DeliveryStatus(status) if status else None,
        event_type=event_type,
    )
    return json_response(serializers.page(found, serializers.delivery))


@idempotent("retryWebhookDelivery")
async def retry_webhook_delivery(delivery_id: str) -> Response:
    caller = tenant()
    delivery = caller.webhooks.retry(delivery_id)
    await services().runner.deliver_now(caller, delivery)
    return json_response(serializers.delivery(delivery))


@idempotent("replayWebhookDeliveries")
async def replay_webhook_deliveries(
    endpoint_id: str, body: dict[str, Any] | None = None
) -> Response:
    body = body or {}
    caller = tenant()
    replayed = caller.webhooks.replay(
        endpoint_id,
        since=serializers.optional_timestamp(body, "since"),
        until=serializers.optional_timestamp(body, "until"),
        failed_only=bool(body.get("failed_only", False)),
    )
    services().runner.dispatch(caller)
    return json_response({"replayed": len(replayed)}, 202)
