"""Random messages at the AMQP ingress: random and empty bodies, bodies that are not UTF-8, JSON of the
wrong shape, nested too deep, over the args limit or naming no cluster, with random headers,
content types and encodings, interleaved with valid submissions, all published to the real submit
exchange and consumed by the real ingress.

Every bad message is dead-lettered (on the dead queue, its reason stored in MongoDB), every valid
one is admitted (its job recorded, its message in its lane queue), and the consumer keeps going.
``LANEYARD_FUZZ_EXAMPLES`` sets the number of batches (``make fuzz``).
"""

from __future__ import annotations

import asyncio
import json
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from laneyard.services.admission.amqp_ingress import AmqpIngress
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.ids import new_job_id
from laneyard.shared.settings import Settings
from laneyard.shared.store import dead_letters, jobs
from laneyard.shared.store.database import Database
from tests.support.broker import message_count
from tests.support.fuzzing import drain, examples

EXAMPLES = examples(default=40)
# How long one batch may take to be accounted for before the test says which message was not: a
# bound on a hang, far beyond what a batch takes.
ACCOUNTED_WITHIN = 60.0
LIMIT = Settings().max_args_bytes


@dataclass(frozen=True)
class Outgoing:
    body: bytes
    good: bool  # a valid submission: to be admitted; else to be dead-lettered
    kind: str
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    content_encoding: str | None = None
    message_id: str | None = None


# What a job's args can hold: JSON that BSON stores (64-bit integers, finite floats).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
keys = st.text(st.characters(exclude_characters="\x00"), max_size=8)  # BSON keys are C strings
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
slugs = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
valid_submissions = st.fixed_dictionaries(
    {"task": st.sampled_from(["demo.noop", "reports.build", "a:b-c_d.e"])},
    optional={
        "args": st.dictionaries(
            st.text(string.ascii_letters, min_size=1, max_size=8), json_values, max_size=4
        ),
        "priority": st.integers(0, 9),
        "tier": st.sampled_from(["TINY", "SMALL", "LARGE", "HUGE"]),
        "max_retries": st.integers(0, 100),
        "retry_backoff": st.floats(0, 3600),
        "slots": st.integers(1, 1024),
        "labels": st.dictionaries(slugs, st.text(max_size=20), max_size=3),
        "start_at": st.sampled_from(["2030-01-01T00:00:00Z", "2000-01-01T12:30:00+02:00"]),
    },
)
# Everything a publisher may set besides the body; the ingress reads the body alone. (AMQP tables
# carry single-precision floats.)
header_values = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(width=32, allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.lists(st.text(max_size=8), max_size=3)
)
properties = st.fixed_dictionaries(
    {
        "headers": st.dictionaries(st.text(min_size=1, max_size=20), header_values, max_size=4),
        "content_type": st.none()
        | st.sampled_from(["application/json", "text/plain", "application/octet-stream", ""])
        | st.text(max_size=30),
        "content_encoding": st.none()
        | st.sampled_from(["gzip", "utf-16", "identity"])
        | st.text(max_size=20),
    }
)


def encoded(doc: object) -> bytes:
    return json.dumps(doc).encode()


def not_an_object(body: bytes) -> bool:
    try:
        return not isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return True


good_bodies = valid_submissions.map(lambda d: ("valid", encoded(d))) | valid_submissions.map(
    # Encodings JSON itself allows (RFC 8259 readers detect them): read like UTF-8.
    lambda d: ("valid, UTF-16", json.dumps(d).encode("utf-16"))
)
bad_bodies = st.one_of(
    st.just(("empty", b"")),
    st.binary(max_size=300).filter(not_an_object).map(lambda b: ("random bytes", b)),
    # Over the 64 KiB a dead letter keeps of its body (Hypothesis draws at most a few KiB itself).
    st.binary(min_size=1, max_size=64).map(
        lambda b: ("huge random bytes", b"\xff" + b * (66 * 1024 // len(b) + 1))
    ),
    json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: ("JSON, not an object", encoded(v))),
    st.dictionaries(st.sampled_from(["args", "lane", "priority"]), json_values, max_size=3).map(
        lambda d: ("JSON without a task", encoded(d))
    ),
    valid_submissions.map(lambda d: ("an unknown field", encoded({**d, "surprise": 1}))),
    valid_submissions.map(lambda d: ("a priority out of range", encoded({**d, "priority": 10}))),
    valid_submissions.map(lambda d: ("a number as a string", encoded({**d, "priority": "5"}))),
    valid_submissions.map(lambda d: ("no such cluster", encoded({**d, "cluster": "no-such-cluster"}))),
    valid_submissions.map(
        lambda d: ("args over the limit", encoded({**d, "args": {"blob": "x" * (LIMIT + 1)}}))
    ),
    valid_submissions.map(
        # Latin-1 bytes where UTF-8 is due.
        lambda d: (
            "not UTF-8",
            json.dumps({**d, "args": {"city": "Zürich"}}, ensure_ascii=False).encode(
                "latin-1", errors="replace"
            ),
        )
    ),
    st.integers(1_000, 200_000).map(lambda n: ("nested too deep", b"[" * n + b"]" * n)),
    st.sampled_from([2**63, -(2**63) - 1, 10**300]).map(
        lambda n: ("an integer beyond 64 bits", b'{"task": "demo.noop", "args": {"n": %d}}' % n)
    ),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]).map(
        lambda x: ("NaN or infinity", b'{"task": "demo.noop", "args": {"x": [%s]}}' % x)
    ),
    st.integers(40, 200).map(
        lambda n: (
            "args nested too deep",
            b'{"task": "demo.noop", "args": {"a": ' + b"[" * n + b"]" * n + b"}}",
        )
    ),
)


@st.composite
def outgoing(draw: st.DrawFn) -> Outgoing:
    good = draw(st.booleans())
    kind, body = draw(good_bodies if good else bad_bodies)
    props = draw(properties)
    message_id = None if good else draw(st.none() | st.text(max_size=20))
    return Outgoing(
        body, good, kind, props["headers"], props["content_type"], props["content_encoding"], message_id
    )


batches = st.lists(outgoing(), min_size=1, max_size=8)
# One of each kind, in every run however few the examples.
NOOP = {"task": "demo.noop"}
EVERY_KIND = [
    Outgoing(encoded(NOOP), True, "valid", {"x-any": [1, "two"]}, "text/plain", "gzip"),
    Outgoing(b"", False, "empty"),
    Outgoing(b"\xff\xfe\x00garbage", False, "random bytes", message_id="not a job id"),
    Outgoing(b"\xff" + b"0123456789" * 7000, False, "huge random bytes"),
    Outgoing(encoded([NOOP]), False, "JSON, not an object"),
    Outgoing(encoded({"args": {}}), False, "JSON without a task"),
    Outgoing(encoded({**NOOP, "surprise": 1}), False, "an unknown field"),
    Outgoing(encoded({**NOOP, "priority": "5"}), False, "a number as a string"),
    Outgoing(encoded({**NOOP, "priority": 10}), False, "a priority out of range"),
    Outgoing(
        b'{"task": "demo.noop", "args": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}", False, "args nested too deep"
    ),
    Outgoing(encoded({**NOOP, "cluster": "no-such-cluster"}), False, "no such cluster"),
    Outgoing(encoded({**NOOP, "args": {"blob": "x" * (LIMIT + 1)}}), False, "args over the limit"),
    Outgoing('{"task": "demo.noop", "args": {"city": "Zürich"}}'.encode("latin-1"), False, "not UTF-8"),
    Outgoing(b"[" * 100_000 + b"]" * 100_000, False, "nested too deep"),
    Outgoing(
        b'{"task": "demo.noop", "args": {"n": 18446744073709551616}}', False, "an integer beyond 64 bits"
    ),
    Outgoing(b'{"task": "demo.noop", "args": {"x": NaN}}', False, "NaN or infinity"),
    Outgoing(json.dumps(NOOP).encode("utf-16"), True, "valid, UTF-16"),
]


async def test_bad_messages_are_dead_lettered_and_good_ones_admitted_without_a_stop(
    settings: Settings, db: Database, bus: Bus
) -> None:
    names = bus.names
    admitter = Admitter(bus, db, settings.max_args_bytes, cache_seconds=settings.admission_cache_seconds)
    await AmqpIngress(bus, db, admitter).start()
    lane_queue = names.lane_queue("main", "default")
    await bus.topology.lane_queue("main", "default")
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    channel = await connection.channel(publisher_confirms=True)
    submit = await channel.get_exchange(names.submit_exchange)
    loop = asyncio.get_running_loop()
    seen: Counter[str] = Counter()

    async def exchange_batch(batch: list[Outgoing]) -> None:
        ids: dict[int, str] = {}
        for n, out in enumerate(batch):
            if out.good:
                ids[n] = new_job_id()
            message = aio_pika.Message(
                out.body,
                headers=out.headers,
                content_type=out.content_type,
                content_encoding=out.content_encoding,
                message_id=ids.get(n, out.message_id),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await submit.publish(message, routing_key="", timeout=settings.network_timeout)
            seen[out.kind] += 1
        bad = Counter(out.body for out in batch if not out.good)
        dead: list[aio_pika.abc.AbstractIncomingMessage] = []
        lane_ids: set[str] = set()
        deadline = loop.time() + ACCOUNTED_WITHIN
        while True:
            dead += await drain(channel, names.dead_queue)
            lane_ids |= {m.message_id or "" for m in await drain(channel, lane_queue)}
            recorded = {i for i in ids.values() if await jobs.get(db, i) is not None}
            dead_bodies = Counter(m.body for m in dead)
            # At least this batch's: a batch that failed half-way may leave some of its own behind.
            if not bad - dead_bodies and set(ids.values()) <= lane_ids and recorded == set(ids.values()):
                break
            assert loop.time() < deadline, (
                f"not accounted for within {ACCOUNTED_WITHIN} s: "
                f"{[(o.kind, o.body[:80]) for o in batch if not o.good and o.body not in dead_bodies]} "
                f"not dead-lettered, {sorted(set(ids.values()) - recorded)} not recorded, "
                f"{sorted(set(ids.values()) - lane_ids)} not in the lane; the batch: "
                f"{[(o.kind, ids.get(n), o.body[:200]) for n, o in enumerate(batch)]}"
            )
            await asyncio.sleep(0.05)
        for message in (m for m in dead if m.body in bad):
            reason = (message.headers or {}).get("x-laneyard-reason")
            assert isinstance(reason, str) and reason, message.headers
            doc = await dead_letters.get(db, str((message.headers or {})["x-laneyard-dead-id"]))
            assert doc is not None and doc["source"] == "admission" and doc["reason"][:1000] == reason
            assert doc["body_truncated"] == (len(message.body) > dead_letters.MAX_BODY)
            assert doc["body"] == message.body[: dead_letters.MAX_BODY].decode("utf-8", errors="replace")

    def run(batch: list[Outgoing]) -> None:
        asyncio.run_coroutine_threadsafe(exchange_batch(batch), loop).result(timeout=ACCOUNTED_WITHIN + 30)

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        # No shrinking: a message that is never accounted for costs the whole bound each try, and a
        # batch is small enough to read as it is.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(batch=batches)
    @example(batch=EVERY_KIND)
    def check(batch: list[Outgoing]) -> None:
        run(batch)

    try:
        await asyncio.to_thread(check)
        # Still consuming after all of it, with nothing left unacknowledged.
        await asyncio.to_thread(run, [Outgoing(encoded({"task": "demo.noop"}), True, "last")])
        assert await message_count(settings, names.submit_queue) == 0
    finally:
        print(f"AMQP ingress fuzz: {sum(seen.values())} messages: {dict(sorted(seen.items()))}")
        await connection.close()
