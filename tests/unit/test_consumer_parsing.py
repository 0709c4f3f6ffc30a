"""Which ack records the consumer applies and which go to the DLQ, and why."""

from __future__ import annotations

import json

import pytest

from debtcases.consumers.messages import BadAck, parse_ack

VALID = {
    "message_id": "m-1",
    "type": "received",
    "order_id": "B-1",
    "at": "2024-05-01T10:00:00+00:00",
    "in_reply_to": "h-1",
}


def test_a_valid_ack_is_parsed() -> None:
    ack = parse_ack(json.dumps(VALID).encode())
    assert (ack.message_id, ack.type, ack.order_id, ack.in_reply_to) == (
        "m-1",
        "received",
        "B-1",
        "h-1",
    )


def test_a_rejection_carries_its_errors() -> None:
    ack = parse_ack(json.dumps(VALID | {"type": "rejected", "errors": ["PLZ"]}).encode())
    assert ack.errors == ["PLZ"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "invalid_json"),
        (None, "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (
            json.dumps({k: v for k, v in VALID.items() if k != "message_id"}).encode(),
            "missing_field",
        ),
        (json.dumps({k: v for k, v in VALID.items() if k != "order_id"}).encode(), "missing_field"),
        (json.dumps(VALID | {"type": "acknowledged"}).encode(), "unknown_type"),
        (json.dumps(VALID | {"order_id": 12}).encode(), "invalid_field"),
        (json.dumps(VALID | {"errors": "PLZ"}).encode(), "invalid_field"),
    ],
)
def test_a_bad_record_names_its_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(BadAck) as caught:
        parse_ack(value)
    assert caught.value.reason == reason
