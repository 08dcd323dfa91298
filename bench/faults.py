"""What fault rules cost the calls they do not fault: the mixed workload, 0 rules vs 100 rules.

One sandbox, two fresh ``merchant`` tenants each round: one without fault rules, one holding
the most a tenant may (100), every one matching by path an operation the workload never
calls. Rules by path are asked on every call (rules by ``operation_id`` only on their own
operation's), so each request walks all 100 and none fires: the worst case. Measured in
turns (wrk for ``--seconds`` on one, then the other, the order swapping every round); the
report gives every round, the median of each and the ratio. The 0-rule side is the price
every request pays for fault injection (a header lookup and an empty rule table).

    python bench/faults.py                      # 3 rounds x 10 s, 8 connections
    python bench/faults.py --rounds 5 --seconds 5
    python bench/faults.py --by operation       # rules by operationId: not even asked
"""

from __future__ import annotations

import argparse
import statistics

import harness
from harness import Server

RULES = 100
MATCHES = {
    "path": {"path": "/v1/ledgers/{ledger_id}/reports/trial-balance"},
    "operation": {"operation_id": "getTrialBalance"},
}


def tenant(server: Server, rules: int, by: str) -> list[str]:
    """A fresh merchant tenant with ``rules`` rules that never fire: the wrk arguments."""
    key, api = harness.fresh_tenant(server.url)
    try:
        for n in range(rules):
            rule = {
                "match": MATCHES[by],
                "effect": {"type": "error", "status": 503},
                "seed": n,
            }
            api.call("POST", "/v1/sandbox/faults", json=rule)
        return api.mixed_args(key)
    finally:
        api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--by", choices=sorted(MATCHES), default="path", help="how the 100 rules match"
    )
    args = parser.parse_args()
    rps: dict[int, list[float]] = {0: [], RULES: []}
    with harness.sandbox("faults") as server:
        for round_no in range(1, args.rounds + 1):
            order = [0, RULES] if round_no % 2 else [RULES, 0]
            for rules in order:
                wrk_args = tenant(server, rules, args.by)
                result = harness.run_wrk(
                    server.url,
                    "mixed.lua",
                    wrk_args,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                rps[rules].append(result.rps)
                print(
                    f"round {round_no} {rules:>3} rules: {result.rps:8.1f} req/s, "
                    f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                    f"non-2xx {result.non2xx}",
                    flush=True,
                )
    none, full = statistics.median(rps[0]), statistics.median(rps[RULES])
    print(
        f"median req/s: 0 rules {none:.1f}, {RULES} rules {full:.1f}; "
        f"ratio {RULES}/0 = {full / none:.2f}"
    )


if __name__ == "__main__":
    main()
