"""Fixtures the webhook tests share: a loopback receiver and a tenant on a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Sandbox, ServerThread, new_sandbox
from tests.receiver import Receiver

START = "2026-03-02T09:00:00Z"
"""Where a frozen tenant's clock stands (a Monday morning)."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def frozen(server: ServerThread) -> Iterator[Sandbox]:
    box = new_sandbox(server, clock_start=START)
    yield box
    box.client.close()
