"""The delivery guards around Faust's consumer and producer (streams.delivery):
the offset bookkeeping is driven directly, without a broker; the crash test in
tests/integration/streams drives them on a real one."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from typing import Any

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ConsumerMessage, ack_lock

from streams.delivery import (
    STALL_SECONDS,
    DrainingProducer,
    GaplessConsumer,
    GuardedApp,
    InOrder,
    ReleasingQueue,
    rewind_stalled,
)

TP0 = TP("gridhub.reports", 0)


def guarded_app() -> GuardedApp:
    # Nothing connects: the consumer and producer are only built, never started.
    return GuardedApp("delivery-test", broker="kafka://127.0.0.1:1", autodiscover=False)


@pytest.fixture
def app() -> Iterator[GuardedApp]:
    yield guarded_app()


def acked(consumer: Any, tp: TP, *offsets: int) -> None:
    for offset in offsets:
        consumer._acked[tp].append(offset)
        consumer._acked_index[tp].add(offset)
    consumer._acked[tp].sort()


def test_the_app_runs_on_the_guarded_consumer_and_producer(app: GuardedApp) -> None:
    assert isinstance(app.consumer, GaplessConsumer)
    assert isinstance(app.producer, DrainingProducer)


def test_faust_alone_commits_over_one_missing_record(app: GuardedApp) -> None:
    """Why the guard exists: the stock consumer's head check is off by one."""
    stock = faust_aiokafka.Consumer(
        app.transport,
        callback=app.topics.on_message,
        on_partitions_revoked=app._on_partitions_revoked,
        on_partitions_assigned=app._on_partitions_assigned,
    )
    stock._committed_offset[TP0] = 100  # the next offset to read
    acked(stock, TP0, 101, 102)  # offset 100 was dropped, never acked
    assert stock._new_offset(TP0) == 103  # 100 would be committed over: lost


def test_one_missing_record_holds_the_commit(app: GuardedApp) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    consumer._committed_offset[TP0] = 100
    acked(consumer, TP0, 101, 102)
    assert consumer._new_offset(TP0) is None
    assert TP0 in consumer.stalled
    acked(consumer, TP0, 100)  # the record arrives after all
    assert consumer._new_offset(TP0) == 103
    assert TP0 not in consumer.stalled


def test_a_run_from_the_committed_offset_commits_up_to_its_first_hole(app: GuardedApp) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    consumer._committed_offset[TP0] = 100
    acked(consumer, TP0, 100, 101, 102, 105)
    assert consumer._new_offset(TP0) == 103
    assert not consumer.stalled


def test_gaps_faust_saw_in_the_offsets_count_as_acked(app: GuardedApp) -> None:
    """Offsets the consumer never saw (transaction markers) are not a hole."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    consumer._committed_offset[TP0] = 100
    consumer._gap[TP0].addi(100, 102)
    acked(consumer, TP0, 102, 103)
    assert not consumer.head_missing(TP0)
    assert consumer._new_offset(TP0) == 104


def test_a_never_committed_partition_continues_from_its_first_offset(app: GuardedApp) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    consumer.first_offsets[TP0] = 0  # what perform_seek found and sought to
    acked(consumer, TP0, 3, 4)  # 0-2 were dropped before the flow resumed
    assert consumer._new_offset(TP0) is None
    assert consumer.stalled[TP0][0] == 0
    acked(consumer, TP0, 0, 1, 2)
    assert consumer._new_offset(TP0) == 5


def test_a_partition_of_unknown_start_is_left_to_faust(app: GuardedApp) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    acked(consumer, TP0, 0, 1)
    assert consumer._new_offset(TP0) == 2


class Fetched:
    """The parts of a fetched record that acking looks at."""

    def __init__(self, offset: int, generation_id: int) -> None:
        self.tp = TP0
        self.topic = TP0.topic
        self.offset = offset
        self.generation_id = generation_id
        self.acked = False


def test_an_ack_counts_in_the_generation_that_fetched_the_record(app: GuardedApp) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.topics.acking_topics.add(TP0.topic)
    app.consumer_generation_id = 3
    app.flow_control.resume()
    consumer._committed_offset[TP0] = 10
    assert consumer.ack(Fetched(10, generation_id=3))
    assert consumer._acked[TP0] == [10]


def test_a_record_fetched_before_the_rebalance_is_not_counted_as_handled(
    app: GuardedApp,
) -> None:
    """Faust's stream skips it and acks it anyway; counting that ack would
    commit it before the partition is sought back."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.topics.acking_topics.add(TP0.topic)
    app.consumer_generation_id = 4
    app.flow_control.resume()
    consumer._committed_offset[TP0] = 10
    stale = Fetched(10, generation_id=3)
    assert not consumer.ack(stale)
    assert stale.acked
    assert consumer._acked[TP0] == []
    assert consumer._new_offset(TP0) is None


def test_an_uncounted_ack_holds_fausts_ack_lock(app: GuardedApp) -> None:
    """The pinned release's ack holds ``ack_lock`` around the acked flag and the
    shared bookkeeping; the early return changes both, so it holds it too."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.consumer_generation_id = 4
    stale = Fetched(10, generation_id=3)
    consumer._unacked_messages.add(stale)
    held = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        with ack_lock:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait(5)
    acking = threading.Thread(target=consumer.ack, args=(stale,))
    acking.start()
    acking.join(0.2)
    assert acking.is_alive() and not stale.acked  # waits for the lock
    release.set()
    acking.join(5)
    holder.join(5)
    assert stale.acked and stale not in consumer._unacked_messages


def test_an_ack_while_the_flow_is_suspended_is_not_counted(app: GuardedApp) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.topics.acking_topics.add(TP0.topic)
    app.consumer_generation_id = 3
    app.flow_control.suspend()
    assert not consumer.ack(Fetched(10, generation_id=3))
    assert consumer._acked[TP0] == []


async def test_a_stalled_partition_is_reread_from_its_committed_offset(
    app: GuardedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    other = TP("gridhub.reports", 1)
    monkeypatch.setattr(consumer, "assignment", lambda: {TP0, other})
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    monkeypatch.setattr(consumer, "rewind", seek)
    consumer._committed_offset[TP0] = 100
    acked(consumer, TP0, 101)
    consumer._new_offset(TP0)
    consumer._committed_offset[other] = 7
    acked(consumer, other, 7)

    assert await rewind_stalled(app) == {}  # not stalled for long yet
    committed, since = consumer.stalled[TP0]
    consumer.stalled[TP0] = (committed, since - STALL_SECONDS)
    assert await rewind_stalled(app) == {TP0: 100}
    assert seeks == [(TP0, 100)]
    assert TP0 not in consumer.stalled


def test_a_partition_no_longer_assigned_is_not_rewound(
    app: GuardedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    monkeypatch.setattr(consumer, "assignment", lambda: set())
    consumer._committed_offset[TP0] = 100
    acked(consumer, TP0, 101)
    consumer._new_offset(TP0)
    assert consumer.stalled_since(0.0) == {}


class HeldBuffer:
    """Stands in for Faust's buffer: keeps what it is given; its own flush gives
    up at once, as Faust's does after 0.1 s per record."""

    def __init__(self) -> None:
        self.held: list[asyncio.Future[Any]] = []

    @property
    def size(self) -> int:
        return sum(not fut.done() for fut in self.held)

    def put(self, fut: asyncio.Future[Any]) -> None:
        self.held.append(fut)

    async def flush(self) -> None:
        return None


async def test_the_producer_flush_waits_for_what_was_buffered_before_it() -> None:
    producer = guarded_app().producer
    assert isinstance(producer, DrainingProducer)
    buffer = HeldBuffer()
    producer.buffer = buffer  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    before = [loop.create_future() for _ in range(2)]
    for fut in before:
        producer.send_soon(fut)

    flush = asyncio.create_task(producer.flush())
    await asyncio.sleep(0)  # the flush has begun
    later = loop.create_future()
    producer.send_soon(later)  # buffered after the flush began: not waited for
    await asyncio.sleep(0.05)
    assert not flush.done()
    before[0].set_result("delivered")
    await asyncio.sleep(0.05)
    assert not flush.done()
    before[1].set_result("delivered")
    await asyncio.wait_for(flush, 1)
    assert not later.done()


async def test_the_producer_flush_fails_when_a_buffered_record_was_not_delivered() -> None:
    producer = guarded_app().producer
    assert isinstance(producer, DrainingProducer)
    producer.buffer = HeldBuffer()  # type: ignore[assignment]
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    producer.send_soon(fut)
    fut.set_exception(OSError("broker gone"))
    with pytest.raises(RuntimeError, match="not delivered"):
        await producer.flush()


class Acks:
    """Stands in for a stream: records what the stage acked."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    async def ack(self, event: Any) -> bool:
        self.acked.append(event.message.offset)
        return True


class Ev:
    def __init__(self, offset: int, generation_id: int = 1, tp: TP = TP0) -> None:
        self.message = Fetched(offset, generation_id)
        self.message.tp = tp


Gated = tuple[InOrder, list[tuple[TP, int]]]


@pytest.fixture
def gated(app: GuardedApp, monkeypatch: pytest.MonkeyPatch) -> Gated:
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.consumer_generation_id = 1
    consumer._committed_offset[TP0] = 10
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    monkeypatch.setattr(consumer, "rewind", seek)
    return InOrder(app), seeks


async def offsets(gate: InOrder, stream: Acks, *events: Ev) -> list[int]:
    admitted = await gate.admit(stream, list(events))  # type: ignore[arg-type]
    return [e.message.offset for e in admitted]


async def test_records_in_order_from_the_committed_offset_pass(gated: Gated) -> None:
    gate, seeks = gated
    stream = Acks()
    assert await offsets(gate, stream, Ev(10), Ev(11), Ev(12)) == [10, 11, 12]
    assert stream.acked == [] and seeks == []


async def test_a_hole_holds_the_partition_and_seeks_back_to_it(
    gated: Gated, app: GuardedApp
) -> None:
    gate, seeks = gated
    stream = Acks()
    assert await offsets(gate, stream, Ev(10), Ev(12), Ev(13)) == [10]
    assert seeks == [(TP0, 11)]  # once, not once per record behind the hole
    assert stream.acked == [12, 13]  # released, but their acks do not count
    # After the seek the partition arrives again from the hole, in order.
    assert await offsets(gate, stream, Ev(11), Ev(12), Ev(13)) == [11, 12, 13]


async def test_records_let_through_before_are_acked_not_handled_again(gated: Gated) -> None:
    gate, _ = gated
    stream = Acks()
    await offsets(gate, stream, Ev(10), Ev(11))
    assert await offsets(gate, stream, Ev(10), Ev(11), Ev(12)) == [12]
    assert stream.acked == [10, 11]


async def test_a_record_from_before_the_rebalance_is_not_handled(
    gated: Gated, app: GuardedApp
) -> None:
    gate, seeks = gated
    stream = Acks()
    app.consumer_generation_id = 2
    assert await offsets(gate, stream, Ev(10, generation_id=1), Ev(10, generation_id=2)) == [10]
    assert stream.acked == [10] and seeks == []


async def test_a_rebalance_starts_the_partition_again_from_its_committed_offset(
    gated: Gated, app: GuardedApp
) -> None:
    gate, _ = gated
    stream = Acks()
    await offsets(gate, stream, Ev(10), Ev(11), Ev(12))
    app.consumer_generation_id = 2  # sought back to the committed offset, 10
    assert await offsets(gate, stream, Ev(10, 2), Ev(11, 2)) == [10, 11]


async def test_a_hole_still_there_a_while_after_the_seek_is_sought_again(gated: Gated) -> None:
    gate, seeks = gated
    stream = Acks()
    await offsets(gate, stream, Ev(10), Ev(12))
    await offsets(gate, stream, Ev(13))
    assert seeks == [(TP0, 11)]
    expected, when = gate.sought[TP0]
    gate.sought[TP0] = (expected, when - STALL_SECONDS)
    await offsets(gate, stream, Ev(14))
    assert seeks == [(TP0, 11), (TP0, 11)]


# -- a rewind while Faust's drain loop still delivers the records fetched before it ------


class PartitionLog:
    """One partition on the broker and the Kafka client's fetch position in it."""

    def __init__(self, tp: TP, position: int, end: int) -> None:
        self.tp = tp
        self.position = position
        self.end = end

    def seek(self, tp: TP, offset: int) -> None:
        assert tp == self.tp
        self.position = offset

    def fetch(self, max_records: int) -> dict[TP, list[Any]]:
        offsets = range(self.position, min(self.position + max_records, self.end))
        self.position += len(offsets)
        records = [
            ConsumerRecord(self.tp.topic, self.tp.partition, o, 0, 0, None, b"", None, 0, 0, [])
            for o in offsets
        ]
        return {self.tp: records} if records else {}


class ClientThread:
    """Stands in for Faust's consumer thread, which runs the Kafka client's calls."""

    def __init__(self, log: PartitionLog) -> None:
        self.log = log

    def _ensure_consumer(self) -> PartitionLog:
        return self.log

    async def call_thread(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return await fn(*args, **kwargs)


class Delivered:
    def __init__(self, message: Any) -> None:
        self.message = message


async def drain_through_gate(
    app: GuardedApp, log: PartitionLog, monkeypatch: pytest.MonkeyPatch, batch: int
) -> list[int]:
    """Run Faust's own drain loop over ``log`` into an agent that takes each record
    through an :class:`InOrder` gate as it arrives; returns the offsets it admitted."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.topics.acking_topics.add(TP0.topic)
    app.consumer_generation_id = 1
    app.flow_control.resume()
    consumer._set_active_tps({TP0})
    monkeypatch.setattr(consumer, "_thread", ClientThread(log))
    monkeypatch.setattr(consumer, "highwater", lambda tp: log.end)
    monkeypatch.setattr(consumer, "assignment", lambda: {TP0})

    async def fetch(active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:
        await asyncio.sleep(0.001)
        return log.fetch(batch)

    monkeypatch.setattr(consumer, "_getmany", fetch)
    gate, stream, admitted = InOrder(app), Acks(), []

    async def agent(message: Any) -> None:
        # The stage handles each record as it arrives, while the drain loop
        # still holds the rest of the records fetched with it.
        for event in await gate.admit(stream, [Delivered(message)]):  # type: ignore[arg-type]
            admitted.append(event.message.offset)

    consumer.callback = agent
    fetcher = consumer  # anything with a _stopped event the loop can watch
    drain = asyncio.create_task(consumer._drain_messages(fetcher))
    try:
        for _ in range(200):
            await asyncio.sleep(0.005)
            if admitted and admitted[-1] == log.end - 1:
                break
    finally:
        drain.cancel()
        with pytest.raises(asyncio.CancelledError):
            await drain
    return admitted


async def test_a_rewind_is_not_undone_by_the_records_fetched_before_it(
    app: GuardedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fault test's lost partition: record 10 went missing, the gate rewound to
    it, but Faust's drain loop went on delivering the records fetched before the
    seek and moved its read offset past them again, so the records fetched again
    from 10 were dropped as already read; nothing later arrived to trigger another
    rewind, and the partition never moved again."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    consumer._committed_offset[TP0] = 10
    log = PartitionLog(TP0, position=11, end=20)  # 10 was dropped from the queues
    admitted = await drain_through_gate(app, log, monkeypatch, batch=5)
    assert admitted == list(range(10, 20))


async def test_a_hole_is_reread_even_when_every_record_behind_it_was_released_uncounted(
    app: GuardedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate releases the records behind a hole without counting their acks; if
    its rewind came to nothing and no later record arrives, only the stall check
    can notice, so it must count released records as seen."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.topics.acking_topics.add(TP0.topic)
    app.consumer_generation_id = 1
    app.flow_control.resume()
    monkeypatch.setattr(consumer, "assignment", lambda: {TP0})
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    monkeypatch.setattr(consumer, "rewind", seek)
    consumer._committed_offset[TP0] = 10
    for offset in (11, 12, 13):  # 10 missing: the gate released these
        released = Fetched(offset, generation_id=1)
        consumer.uncount(released)
        assert not consumer.ack(released)
    assert consumer.head_missing(TP0)
    assert await consumer.commit() is False  # nothing to commit, but the stall is noted
    committed, since = consumer.stalled[TP0]
    consumer.stalled[TP0] = (committed, since - STALL_SECONDS)
    assert await rewind_stalled(app) == {TP0: 10}
    assert seeks == [(TP0, 10)]


def test_a_head_on_its_way_to_a_stage_is_not_missing(app: GuardedApp) -> None:
    """A stage that holds the head in a slow batch (the database down) while
    records behind it were released must not have the partition re-read under it."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.topics.acking_topics.add(TP0.topic)
    app.consumer_generation_id = 1
    app.flow_control.resume()
    consumer._committed_offset[TP0] = 10
    head = Fetched(10, generation_id=1)
    consumer._unacked_messages.add(head)  # delivered, not acked yet
    released = Fetched(12, generation_id=1)
    consumer.uncount(released)
    consumer.ack(released)
    assert not consumer.head_missing(TP0)
    assert consumer.ack(head)
    assert not consumer.head_missing(TP0)


# -- a rebalance (or stop) that clears the queues of two stages reading one topic ------


async def test_a_record_cleared_from_one_stage_queue_does_not_hold_the_rebalance(
    app: GuardedApp,
) -> None:
    """Both the case and the hotspot agent read reports: one message, one ack per
    stage. The case stage handled its copy and still holds the event (its last
    batch); the rebalance clears the hotspot stage's queue. Faust's wait_empty
    waits until no delivered message is left unacked and alive — with the stock
    queue this one never was, and the rebalance never completed."""
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    app.topics.acking_topics.add(TP0.topic)
    app.consumer_generation_id = 1
    app.flow_control.resume()
    message = ConsumerMessage(
        TP0.topic, 0, 10, 0.0, 0, [], b"k", b"v", None, 1, 1, TP0, generation_id=1
    )
    consumer.track_message(message)
    message.incref(2)  # delivered to both stages' queues
    event = faust.Event(app, b"k", b"v", [], message)
    cases, hotspots = app.FlowControlQueue(maxsize=10), app.FlowControlQueue(maxsize=10)
    assert isinstance(cases, ReleasingQueue)
    cases.put_nowait(event)
    hotspots.put_nowait(event)
    held = cases.get_nowait()
    held.ack()  # the case stage handled it, and keeps its batch
    app.flow_control.suspend()  # a rebalance starts ...
    cases.clear()  # ... and Faust clears every stream's queue (flow_control.clear())
    hotspots.clear()
    gc.collect()
    consumer._clean_unacked_messages()
    assert not consumer._unacked_messages  # what wait_empty waits for
    assert message.acked and consumer._acked[TP0] == []  # acked, not counted
    assert held is event
