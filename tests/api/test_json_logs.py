"""``serve --log-format json``: every line of standard error is JSON, one per request."""

from __future__ import annotations

import json
import signal

import httpx

from tests.served import ServedProcess


def test_json_logs_are_one_line_per_request_with_the_request_fields() -> None:
    with ServedProcess("--log-format", "json", "--fixture", "empty") as served:
        auth = {"Authorization": f"Bearer {served.api_key}"}
        with httpx.Client(base_url=served.url, headers=auth, timeout=30) as client:
            made = client.post(
                "/v1/ledgers", json={"name": "Logged"}, headers={"X-Correlation-Id": "ord-1"}
            )
            assert made.status_code == 201, made.text
            missing = client.get("/v1/ledgers/led_missing")
            assert missing.status_code == 404
            anonymous = httpx.get(f"{served.url}/v1/ledgers")
            assert anonymous.status_code == 401
            tenant = client.get("/v1/sandbox/tenant").json()["tenant_id"]
        assert served.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught
    lines = served.stderr().splitlines()
    served.close()
    assert lines, "nothing was logged"
    records = [json.loads(line) for line in lines]  # every line, not only the access lines
    access = [r for r in records if r.get("logger") == "gledger_sandbox.access"]
    by_id = {r["request_id"]: r for r in access}
    assert len(access) == 4 and len(by_id) == 4  # one line per request, uvicorn's are off
    assert not [r for r in records if r.get("logger") == "uvicorn.access"]

    created = by_id[made.headers["x-gledger-request-id"]]
    assert created["operation_id"] == "createLedger"
    assert created["status"] == 201
    assert created["tenant_id"] == tenant
    assert created["correlation_id"] == "ord-1"
    assert created["method"] == "POST" and created["path"] == "/v1/ledgers"
    assert created["duration_ms"] > 0
    assert created["level"] == "INFO" and created["time"]

    not_found = by_id[missing.headers["x-gledger-request-id"]]
    assert (not_found["operation_id"], not_found["status"]) == ("getLedger", 404)
    refused = by_id[anonymous.headers["x-gledger-request-id"]]
    assert (refused["status"], refused["tenant_id"]) == (401, None)
    # uvicorn's own messages (start, stop) are JSON too.
    assert any(r.get("logger", "").startswith("uvicorn") for r in records)
