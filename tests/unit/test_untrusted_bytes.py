"""What reads bytes or text from outside never raises on them: it says what they hold, or why they
hold nothing usable. (Each of these once raised on some input, and the caller treated the error as
a broker outage: a message redelivered forever, or a 500.)"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneyard.services.admission.amqp_ingress import read_submission
from laneyard.shared.models import Submission
from laneyard.shared.store.dead_letters import origin
from laneyard.shared.store.paging import BadCursor, decode_cursor

DEEP = b"[" * 100_000 + b"]" * 100_000


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@given(st.binary(max_size=200) | st.sampled_from([DEEP, b"", b"\xff\xfe", b"NaN", b'{"task": 1}']))
def test_a_message_body_is_a_submission_or_a_reason(body: bytes) -> None:
    read = read_submission(body)
    assert isinstance(read, Submission) or (isinstance(read, str) and read)


def test_message_bodies_nested_too_deep_or_with_numbers_bson_lacks_say_so() -> None:
    assert "nested too deep" in str(read_submission(DEEP))
    assert "64 bits" in str(read_submission(b'{"task": "demo.noop", "args": {"n": 18446744073709551616}}'))
    assert "JSON can carry" in str(read_submission(b'{"task": "demo.noop", "args": {"x": NaN}}'))
    utf16 = json.dumps({"task": "demo.noop"}).encode("utf-16")
    assert read_submission(utf16) == Submission(task="demo.noop")


@given(st.binary(max_size=200) | st.just(DEEP))
def test_the_origin_of_any_dead_letter_body_is_read_or_unknown(body: bytes) -> None:
    lane, cluster = origin(body)
    assert lane is None or isinstance(lane, str)
    assert cluster is None or isinstance(cluster, str)


@given(
    st.text(max_size=100)
    | st.binary(max_size=300).map(b64)
    | st.sampled_from([b"[NaN, 1]", b"[Infinity, 1]", b"[1e999, 1]", b"[" * 300]).map(b64)
    | st.integers(10**308, 10**360).map(lambda n: b64(f"[{n}, 1]".encode()))
)
def test_any_string_is_a_cursor_or_refused_as_one(cursor: str) -> None:
    try:
        at, doc_id = decode_cursor(cursor)
    except BadCursor:
        return
    assert isinstance(at, float) and isinstance(doc_id, str)


def test_a_cursor_holding_a_number_too_large_for_a_float_is_refused() -> None:
    huge = b64(f"[{10**309}, 1]".encode())
    assert len(huge) <= 512  # the API takes cursors this long
    with pytest.raises(BadCursor):
        decode_cursor(huge)
