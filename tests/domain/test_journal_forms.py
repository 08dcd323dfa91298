"""The forms a journal delta writes (``state_encoder``): slotted objects' fields listed in the
order of their type's shape, declared once per journal; bytes that are UTF-8 text as text. The
older forms (fields by name, bytes in base64) still read the same."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from gledger_sandbox.domain.journal import TRUSTED
from gledger_sandbox.domain.ledger import postings
from gledger_sandbox.domain.sandbox.idempotency import StoredAnswer
from gledger_sandbox.domain.state_graph import DocumentError
from tests.domain.helpers import C, D, chart, spec
from tests.domain.test_journal import Recorder, _document, _tenant


@pytest.fixture(autouse=True)
def trusted() -> Any:
    token = TRUSTED.set(True)
    yield
    TRUSTED.reset(token)


def _recorded(entries: int, body: bytes = b'{"id": "ent_1"}') -> Recorder:
    """A recorder of ``entries`` journaled entries, each with its idempotency key's answer."""
    tenant = _tenant()
    ledger_id, accounts = chart(tenant.store)
    recorder = Recorder(tenant)
    for n in range(entries):
        lines = (("cash", D, n + 1), ("revenue", C, n + 1))
        postings.create_entry(tenant.store, spec(ledger_id, accounts, *lines))
        scope = ("createEntry", f"key-{n}")
        assert tenant.idempotency.begin(scope, "print", tenant.clock.now()) is None
        tenant.idempotency.complete(scope, StoredAnswer(201, body, "application/json"))
        recorder.record()
    return recorder


def _named(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same records in the forms written before listed fields and text bytes."""
    shapes: dict[str, list[str]] = {}

    def older(value: Any) -> Any:
        if isinstance(value, list):
            return [older(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "$a" in value:
            kind, *listed = value["$a"]
            return {"$v": kind, "f": dict(zip(shapes[kind], older(listed), strict=True))}
        if "$u" in value:
            return {"$b": base64.b64encode(value["$u"].encode()).decode()}
        if "a" in value and "t" in value:
            return {
                "t": value["t"],
                "f": dict(zip(shapes[value["t"]], older(value["a"]), strict=True)),
            }
        return {key: older(item) for key, item in value.items()}

    named = []
    for record in records:
        delta = copy.deepcopy(record["delta"])
        shapes.update(delta.pop("shapes", {}))
        named.append({**record, "delta": older(delta)})
    return named


def test_shapes_are_declared_once_and_listed_fields_replay_as_their_named_forms() -> None:
    recorder = _recorded(3)
    first, second = (record["delta"] for record in recorder.records[:2])
    assert {"models.Entry", "models.Line", "events.Event"} <= first["shapes"].keys()
    assert "shapes" not in second  # the journal's first delta declared them
    entries = [o for o in second["objects"] if o["t"] == "models.Entry" and "a" in o]
    assert len(entries) == 1 and "f" not in entries[0]
    claims = [o for o in second["objects"] if o["t"] == "idempotency._Claim"]
    answer = claims[0]["a"][2]["$a"]
    assert answer[0] == "idempotency.StoredAnswer" and {"$u": '{"id": "ent_1"}'} in answer
    live = _document(recorder.tenant)
    assert _document(recorder.replayed()) == live
    recorder.records = _named(recorder.records)  # a journal written before these forms
    assert "shapes" not in recorder.records[0]["delta"]
    assert _document(recorder.replayed()) == live


def test_bytes_that_are_not_text_are_written_in_base64() -> None:
    recorder = _recorded(1, body=b"\xff\x00 not UTF-8")
    written = json.dumps(recorder.records[0])
    assert '"$b"' in written and '"$u"' not in written
    assert _document(recorder.replayed()) == _document(recorder.tenant)


def _event_at(delta: dict[str, Any]) -> int:
    """The delta's last event (objects are read from the last)."""
    return max(n for n, o in enumerate(delta["objects"]) if o["t"] == "events.Event")


def test_listed_fields_of_the_wrong_count_point_at_the_list() -> None:
    recorder = _recorded(1)
    delta = recorder.records[0]["delta"]
    n = _event_at(delta)
    delta["objects"][n]["a"].pop()
    with pytest.raises(DocumentError) as raised:
        recorder.replayed()
    assert [f.pointer for f in raised.value.errors] == [f"/deltas/0/delta/objects/{n}/a"]


def test_listed_fields_without_a_declared_shape_are_refused() -> None:
    recorder = _recorded(2)
    del recorder.records[0]["delta"]["shapes"]
    with pytest.raises(DocumentError) as raised:
        recorder.replayed()
    assert "No shape was declared" in raised.value.detail


def test_a_shape_naming_a_field_its_type_has_not_points_at_the_field() -> None:
    recorder = _recorded(1)
    delta = recorder.records[0]["delta"]
    n = _event_at(delta)
    delta["shapes"]["events.Event"][0] = "__class__"
    with pytest.raises(DocumentError) as raised:
        recorder.replayed()
    assert [f.pointer for f in raised.value.errors] == [f"/deltas/0/delta/objects/{n}/a/0"]
