"""Fair shares of attempts in flight: caps per endpoint and tenant, round-robin between tenants."""

from __future__ import annotations

import asyncio

import pytest

from gledger_sandbox.webhooks.fair_share import FairShare


async def _hold(share: FairShare, tenant: str, endpoint: str, order: list[str]) -> None:
    async with share.slot(tenant, endpoint):
        order.append(f"{tenant}/{endpoint}")
        await asyncio.sleep(0.01)


def test_waiting_attempts_take_turns_across_tenants_within_every_cap() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        share = FairShare(total=3, per_tenant=2, per_endpoint=1)
        order: list[str] = []
        seen: list[str] = []
        tasks = [
            asyncio.create_task(_hold(share, "A", endpoint, order))
            for endpoint in ("a1", "a1", "a1", "a2", "a2", "a3")
        ]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(_hold(share, "B", "b1", order)))
        await asyncio.sleep(0)
        seen = list(order)
        assert share.held <= 3 and share.held_by("A") <= 2
        await asyncio.gather(*tasks)
        assert share.held == 0 and share.waiting() == 0
        return seen, order

    first, everything = asyncio.run(scenario())
    # A's first two endpoints, one attempt each (its share); B's arrives later yet runs at once.
    assert first == ["A/a1", "A/a2", "B/b1"]
    assert sorted(everything) == sorted(["A/a1"] * 3 + ["A/a2"] * 2 + ["A/a3", "B/b1"])


def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    async def scenario() -> list[str]:
        share = FairShare(total=2, per_tenant=1, per_endpoint=1)
        order: list[str] = []
        running = asyncio.create_task(_hold(share, "A", "a", order))
        waiting = asyncio.create_task(_hold(share, "A", "a", order))
        last = asyncio.create_task(_hold(share, "A", "a", order))
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(running, last, waiting, return_exceptions=True)
        assert share.held == 0 and share.waiting() == 0
        return order

    assert asyncio.run(scenario()) == ["A/a", "A/a"]


def test_a_tenant_share_below_the_servers_is_required() -> None:
    with pytest.raises(ValueError):
        FairShare(total=16, per_tenant=16, per_endpoint=4)
