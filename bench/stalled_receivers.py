"""What webhook receivers that never answer cost the API: the mixed workload, 0 vs 5 stalled.

One sandbox, two fresh ``merchant`` tenants each round: one with no webhook endpoint, one with
5 endpoints (every event type) whose receivers accept the connection and never answer (loopback
listeners that hold every socket), so each entry the workload posts makes 5 deliveries whose
attempts hang until the webhook timeout (5 s) and then retry. Measured in turns (wrk for
``--seconds`` on one tenant, then the other, the order swapping every round); the report gives
every round, the medians and the ratios stalled/none of p50, p99 and req/s. The goal is a p50
within 1.2x.

    python bench/stalled_receivers.py                  # 3 rounds x 10 s, 8 connections
    python bench/stalled_receivers.py --rounds 5 --seconds 5
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import threading
from collections.abc import Iterator

import harness
from harness import Server

STALLED = 5


class StalledReceiver:
    """A loopback port that accepts every connection and never answers (held until close)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind((harness.HOST, 0))
        self.sock.listen(4096)
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._hold, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{harness.HOST}:{self.sock.getsockname()[1]}/hooks"

    def _hold(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.held.append(connection)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)
        for connection in self.held:
            connection.close()


@contextlib.contextmanager
def stalled_receivers() -> Iterator[list[StalledReceiver]]:
    receivers = [StalledReceiver() for _ in range(STALLED)]
    try:
        yield receivers
    finally:
        for receiver in receivers:
            receiver.close()


def tenant(server: Server, receivers: list[StalledReceiver]) -> list[str]:
    """A fresh merchant tenant with an endpoint per receiver: the wrk arguments."""
    key, api = harness.fresh_tenant(server.url)
    try:
        for receiver in receivers:
            api.call("POST", "/v1/webhook-endpoints", json={"url": receiver.url})
        return api.mixed_args(key)
    finally:
        api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    sides = ("none", "stalled")
    results: dict[str, list[harness.WrkResult]] = {side: [] for side in sides}
    with harness.sandbox("stalled_receivers") as server, stalled_receivers() as receivers:
        for round_no in range(1, args.rounds + 1):
            for side in sides if round_no % 2 else sides[::-1]:
                wrk_args = tenant(server, receivers if side == "stalled" else [])
                result = harness.run_wrk(
                    server.url,
                    "mixed.lua",
                    wrk_args,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                results[side].append(result)
                held = sum(len(r.held) for r in receivers)
                print(
                    f"round {round_no} {side:>7}: {result.rps:8.1f} req/s, "
                    f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                    f"non-2xx {result.non2xx}; connections held by the receivers so far {held}",
                    flush=True,
                )

    def med(side: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[side])

    ratios = {f: med("stalled", f) / med("none", f) for f in ("p50_ms", "p99_ms", "rps")}
    print(
        f"median: none p50 {med('none', 'p50_ms'):.2f} ms p99 {med('none', 'p99_ms'):.2f} ms "
        f"{med('none', 'rps'):.1f} req/s; stalled p50 {med('stalled', 'p50_ms'):.2f} ms "
        f"p99 {med('stalled', 'p99_ms'):.2f} ms {med('stalled', 'rps'):.1f} req/s; "
        f"ratio stalled/none p50 {ratios['p50_ms']:.2f} (goal <= 1.2), "
        f"p99 {ratios['p99_ms']:.2f}, req/s {ratios['rps']:.2f}"
    )


if __name__ == "__main__":
    main()
