"""Delivery guards around faust-streaming 0.15.3's Kafka consumer and producer.

Each guard keeps DESIGN.md §7 ("offsets are committed only after the write they
cover", "the same cases as a clean run") against one fault of the pinned
release, all found by the crash test (``tests/integration/streams/test_crash.py``)
on this machine. Each cites its upstream report and says when it can go; the pin
is enforced by ``tests/unit/streams/test_faust_pin.py``, and the canary
``test_faust_alone_commits_over_one_missing_record`` fails the day the first
fault is fixed upstream.

- **A hole at the head of the acked offsets** — :class:`GaplessConsumer`,
  :func:`rewind_stalled`. Records fetched around the seek of a resumed partition
  can be dropped from the stream queues after the read position has passed them
  (faust#596). Faust commits over one missing head record and blocks for good on
  two or more (its check is ``min(acked) - committed > 1``: faust#606, PR #707);
  partitions never committed are neither sought nor checked. The guard seeks
  them to their first offset, commits only a run that starts exactly at the
  committed (or first) offset, and re-reads a partition whose head stays missing
  for :data:`STALL_SECONDS` (downstream effects are idempotent).
- **Skipped records acked as handled** — :meth:`GaplessConsumer.ack`. A stream
  skips the records fetched before the latest rebalance and acks them (faust
  PR #223); a partition that stays with the worker commits those acks before it
  is sought back, and the records are never handled. Such acks do not count.
- **Records handled out of order** — :class:`InOrder`. A skipped record fetched
  again is handled after the records behind it, and near-duplicate merging
  depends on the order of reports: each stage takes a partition's records
  strictly in offset order, once, re-reading from any hole at once.
- **A producer flush that gives up** — :class:`DrainingProducer`. Faust flushes
  the producer before it commits (PR #273), but the buffer's flush returns as
  soon as one hand-over takes longer than 0.1 s, table writes still buffered.
  The flush waits until every record buffered before it is delivered.
- **A rebalance (or a stop) that waits for good** — :class:`ReleasingQueue`.
  Faust clears every stream queue and then waits, without a limit, until every
  delivered message is acked; a record of a topic two stages read is one message
  acked once per stage, so when one stage still holds its handled copy while the
  other's copy is cleared, the wait never ends (robinhood/faust#402, faust#133).
  The queues ack what they drop, without counting (the record is fetched again
  from the committed offset). Remove when Faust acks what it clears.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT
from faust.types.tuples import ack_lock
from mode.utils.queues import ThrowableQueue

log = logging.getLogger(__name__)

#: A head offset missing for this long while later ones are acked is not in
#: flight any more (every stage handles a partition's records in order and
#: acks them batch by batch): it was dropped, and the partition is re-read.
STALL_SECONDS = 10.0


class GaplessConsumer(faust_aiokafka.Consumer):
    """Commits only offsets that continue the committed one without a hole.

    Upstream: faust-streaming/faust#606 "Wrong offset commit in case of gaps"
    (open) and its fix, PR #707 "never commit past an in-flight (unacked)
    message" (open), change ``_new_offset``, the method wrapped here. Remove
    :meth:`_new_offset`'s head check when a release with #707 is pinned and the
    canary ``test_faust_alone_commits_over_one_missing_record`` fails — and only
    if that release also refuses a hole at the head of a never-committed
    partition (Faust's check is skipped when the committed offset is None or 0;
    no upstream report found), else keep :meth:`perform_seek` and
    :meth:`next_to_commit`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # tp -> (offset the partition must continue from, since when it has been missing)
        self.stalled: dict[TP, tuple[int, float]] = {}
        # tp -> first offset of a partition the group has never committed
        self.first_offsets: dict[TP, int] = {}
        # records a stage let through acked but unhandled (see InOrder)
        self._uncounted: weakref.WeakSet[Any] = weakref.WeakSet()
        # tp -> highest offset acked without counting since the last seek to
        # the committed offsets: a record seen that is to be fetched again
        self._released: dict[TP, int] = {}
        # tp -> (offset, generation) to re-read the partition from, sought by
        # the drain loop before its next fetch (see rewind)
        self._rereads: dict[TP, tuple[int, int]] = {}

    async def rewind(self, tp: TP, offset: int) -> None:
        """Have ``tp`` read again from ``offset``, from the next fetch on.

        The seek is only requested here; the drain loop makes it just before it
        fetches again (:meth:`_wait_next_records`), when every record of its
        previous fetch has been handed to the streams. Sought at once, from a
        stage, the partition went on receiving the rest of a fetch made before
        the seek, and Faust's drain loop moved its read offset (the highest
        offset delivered, below which it drops records as already read) past
        them again: the records fetched again from ``offset`` were all dropped,
        and if nothing newer arrived to reveal the hole once more, the partition
        never moved again — the fault test lost every later report of a
        partition that way. Upstream: Faust drops records below a read offset
        that a seek did not reset (robinhood/faust#542), a fetch racing a seek
        leaves gaps in what the streams get (faust-streaming/faust#216, fixed
        there for recovery only by faust-streaming/faust#217), and the Kafka
        client warns that seeking in the middle of consumption can lose data
        unless every pending message is processed first (the docstring of
        ``aiokafka.AIOKafkaConsumer.seek``)."""
        generation = self.app.consumer_generation_id
        pending = self._rereads.get(tp)
        if pending is None or pending[1] != generation or offset < pending[0]:
            self._rereads[tp] = (offset, generation)

    async def _wait_next_records(self, timeout: float) -> Any:
        if self._rereads and self.flow_active:
            await self._seek_rereads()
        return await super()._wait_next_records(timeout)

    async def _seek_rereads(self) -> None:
        """Make the seeks :meth:`rewind` requested in this generation, in the
        consumer's thread: the Kafka client runs there, and a seek from this
        thread can leave a running fetcher waiting for good."""
        rereads, self._rereads = self._rereads, {}
        generation = self.app.consumer_generation_id
        assigned = self.assignment()
        due = {
            tp: offset
            for tp, (offset, asked_in) in rereads.items()
            if asked_in == generation and tp in assigned
        }
        if not due:
            return
        thread: Any = self._thread

        async def seek_there() -> None:
            client = thread._ensure_consumer()
            for tp, offset in due.items():
                client.seek(tp, offset)

        try:
            await thread.call_thread(seek_there)
        except Exception as exc:  # revoked meanwhile: the rebalance seeks it anyway
            log.warning("could not re-read %s: %r", sorted(due), exc)
            return
        for tp, offset in due.items():
            self._read_offset[tp] = offset if offset else None

    def uncount(self, message: Any) -> None:
        """Its coming ack will not count: the record is to be fetched again."""
        self._uncounted.add(message)

    async def perform_seek(self) -> None:
        # Every partition is read again from its committed offset.
        self._rereads.clear()
        self._released.clear()
        await super().perform_seek()
        never_committed = [
            tp
            for tp in self.assignment()
            if self._committed_offset[tp] is None and not self._is_changelog_tp(tp)
        ]
        self.first_offsets = {}
        if never_committed:
            # consumer_auto_offset_reset is "earliest": the group starts there.
            earliest = await self.earliest_offsets(*never_committed)
            for tp in never_committed:
                first = int(earliest.get(tp) or 0)
                self.first_offsets[tp] = first
                await self.seek(tp, first)

    def next_to_commit(self, tp: TP) -> int | None:
        """The offset the partition's next commit must start from."""
        committed = self._committed_offset[tp]
        if committed is not None:
            return int(committed)
        return self.first_offsets.get(tp)

    def head_missing(self, tp: TP) -> bool:
        """Some record at or after the next offset to commit is acked, but not
        that record itself (gaps Faust saw in the offsets, such as transaction
        markers, count as acked, as Faust counts them) — or, nothing acked, a
        record at or after it was released uncounted while that record itself
        is not on its way to a stage.

        The second case is a partition whose stages released every record
        behind a hole (see :class:`InOrder`): no counted ack reveals the hole,
        and if the re-read came to nothing and no later record arrives, only
        this check can notice it."""
        expected = self.next_to_commit(tp)
        if expected is None:
            return False
        acked = self._acked[tp]
        if not acked:
            return self._released.get(tp, -1) >= expected and not self._in_flight(tp, expected)
        head = min(acked)
        gaps = self._gap.get(tp)
        if gaps:
            head = min(head, min(interval.begin for interval in gaps))
        return bool(head > expected)

    def ack(self, message: Any) -> bool:
        """Count an ack only if the record was handled in the generation that
        fetched it, with the flow running.

        Upstream: the skip-and-ack of records fetched before a rebalance came with
        faust-streaming/faust PR #223 (fix of #221); manual acks across a
        rebalance are faust#527 (open). Remove this override when a pinned
        release no longer acks what it skips (or drops those acks on a
        rebalance) and the crash test passes without it.

        A Faust stream *skips* a record fetched before the latest rebalance (or
        while the flow is suspended) and then acks it like a handled one; if
        the partition stays with this worker, that ack survives the rebalance
        and is committed — before the partitions are sought back to the
        committed offsets — so the record is never handled. Such an ack (or a
        real one that finished across a rebalance) is not counted here: the
        record is fetched again from the committed offset and handled then.
        """
        generation = getattr(message, "generation_id", None)
        stale = generation is not None and generation != self.app.consumer_generation_id
        if stale or message in self._uncounted or not self.app.flow_control.is_active():
            # The same lock as Faust's own ack (0.15.3 holds it around the acked
            # test-and-set and the bookkeeping shared by every message).
            with ack_lock:
                if not message.acked:
                    message.acked = True
                    self._unacked_messages.discard(message)
                    if self.app.topics.acks_enabled_for(message.topic):
                        tp = message.tp
                        self._released[tp] = max(self._released.get(tp, -1), message.offset)
                        self._acked.setdefault(tp, [])  # so the commit loop looks at it
            return False
        acked: bool = super().ack(message)
        return acked

    def _in_flight(self, tp: TP, offset: int) -> bool:
        """The record is delivered to the streams and not acked yet."""
        return any(m.tp == tp and m.offset == offset for m in list(self._unacked_messages))

    def _new_offset(self, tp: TP) -> int | None:
        expected = self.next_to_commit(tp)
        if expected is not None and self.head_missing(tp):
            if tp not in self.stalled or self.stalled[tp][0] != expected:
                self.stalled[tp] = (expected, time.monotonic())
            return None
        self.stalled.pop(tp, None)
        offset: int | None = super()._new_offset(tp)
        return offset

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's drain loop (``faust.transport.consumer.Consumer._drain_messages``
        of 0.15.3, copied as is) with one change: each record is handed to the
        conductor by :func:`hand_over` instead of ``wait_first``.

        Upstream hands every record over with ``wait_first(callback(message),
        suspend_flow.wait())``: four tasks and an ``asyncio.wait`` per record,
        25-30 µs, about a fifth of the worker's CPU per report. The callback
        only suspends when a stream's queue is full; the escape from a suspended
        hand-over when a rebalance suspends the flow is kept for that case.
        No upstream report found; re-check this copy against the pinned
        release's ``_drain_messages`` on every upgrade (``test_faust_pin``)."""
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await hand_over(self, callback(message))
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Run the app's ``before_commit`` hooks, then Faust's commit, which flushes
        the producer first: state a stage holds back until a commit (the case
        agent's coalesced changelog) is written before the offsets that cover it."""
        for hook in getattr(self.app, "before_commit", ()):
            hook()
        committed: bool = await super()._commit_offsets(
            offsets, start_new_transaction=start_new_transaction
        )
        return committed

    def stalled_since(self, older_than: float, now: float | None = None) -> dict[TP, int]:
        """Partitions whose head has been missing for ``older_than`` seconds,
        with the committed offset to re-read them from."""
        now = time.monotonic() if now is None else now
        assigned = self.assignment()
        return {
            tp: committed
            for tp, (committed, since) in list(self.stalled.items())
            if now - since >= older_than and tp in assigned and self.head_missing(tp)
        }


class _Rest:
    """The rest of a coroutine that already ran its first step and yielded
    ``first``: awaiting it goes on from there (what the yielded future or bare
    ``yield`` asked the event loop for, sends and throws passed through)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro, self.first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self.coro, self.first
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # thrown in by the task: into the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as done:
                    return done.value


async def _finish(rest: _Rest) -> Any:
    return await rest


async def hand_over(consumer: Any, step: Awaitable[Any]) -> None:
    """Run ``coro`` (the conductor's callback for one record) to its end, the
    way Faust's drain loop does, minus the tasks when it never suspends.

    The first step runs here, synchronously: it puts the record on the queues
    of the streams that read its topic and returns. Only if it suspends (a
    stream's queue is full) is the rest wrapped in a task and raced against the
    consumer's ``suspend_flow`` (a rebalance), its stop and its crash, exactly
    as ``wait_first`` does for every record upstream."""
    coro = cast("Coroutine[Any, Any, Any]", step)
    if not hasattr(coro, "send"):  # not a coroutine: nothing to save
        await consumer.wait_first(step, consumer.suspend_flow.wait())
        return
    try:
        first = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise
    await consumer.wait_first(_finish(_Rest(coro, first)), consumer.suspend_flow.wait())


class DrainingProducer(faust_aiokafka.Producer):
    """Flushes every record buffered before the flush began, up to the broker.

    Only those: records other agents keep buffering meanwhile must not hold the
    flush (and with it the commit and the case agent) until the buffer runs dry.

    Upstream: Faust flushes before it commits since faust-streaming/faust PR #273
    ("flushing producer before commit"), but ``ProducerBuffer.flush_atmost``
    returns after one 0.1 s wait with records still buffered; slow flushes are
    reported in faust#173 (open), the early return itself nowhere we found.
    Remove when a pinned release's ``ProducerBuffer.flush`` drains the buffer
    instead of returning at its first 0.1 s timeout (``faust/transport/producer.py``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: set[asyncio.Future[Any]] = set()
        self._failed: list[BaseException] = []

    def _sent(self, fut: asyncio.Future[Any]) -> None:
        self._unsent.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            self._failed.append(fut.exception())  # type: ignore[arg-type]

    def send_soon(self, fut: Any) -> None:
        self._unsent.add(fut)
        fut.add_done_callback(self._sent)
        super().send_soon(fut)

    async def flush(self) -> None:
        buffered = list(self._unsent)
        await super().flush()
        if buffered:
            await asyncio.wait(buffered)
        if self._failed:
            failed, self._failed = self._failed, []
            raise RuntimeError(f"{len(failed)} buffered records were not delivered: {failed[0]!r}")


class GuardedTransport(faust_aiokafka.Transport):
    Consumer = GaplessConsumer
    Producer = DrainingProducer


class ReleasingQueue(ThrowableQueue[Any]):
    """A stream's queue that acks the events it drops, without counting them.

    Faust clears every stream's queue when a rebalance starts or the worker
    stops (``flow_control.clear()``), then waits until every message delivered
    to a stream is acked (``Consumer.wait_empty``, which has no time limit and
    swallows cancellation). A record of a topic that two stages read (as the
    reports were, by the case and hotspot agents, before the hotspot counts
    moved into the case agent; today the DB writer of a database fed from the
    feed shares no topic) is one message with one ack per stage. If one stage has
    handled its copy and still holds the event — an agent keeps its last batch
    until the next one arrives — while the other stage's copy is cleared from
    its queue, the message never gets its last ack and never becomes garbage,
    so the wait never ends: the rebalance after a worker left never completed
    and the survivor stopped working (the fault test lost 395 and 424 reports
    so), or a worker did not stop on SIGTERM. Faust's stock queue drops the
    events silently (robinhood/faust#402, faust-streaming/faust#133 report
    the hang). An event dropped here is acked uncounted, like one a stream
    skips: the record is fetched again from the committed offset."""

    def __init__(self, *args: Any, app: faust.App, **kwargs: Any) -> None:
        self._app = app
        super().__init__(*args, **kwargs)

    def clear(self) -> None:
        dropped = list(self._queue)  # type: ignore[attr-defined]
        super().clear()
        consumer = self._app.consumer
        for item in dropped:
            message = getattr(item, "message", None)
            if message is None or not self._app.topics.acks_enabled_for(message.topic):
                continue
            if isinstance(consumer, GaplessConsumer):
                consumer.uncount(message)
            item.ack()


class GuardedApp(faust.App):
    """A Faust app on :class:`GuardedTransport` (both the consumer's and the
    producer's transport) whose stream queues are :class:`ReleasingQueue`, with
    ``before_commit``: callables run before every offset commit, before the
    producer flush that precedes it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_commit: list[Callable[[], object]] = []

    def _new_transport(self) -> Any:
        return GuardedTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return GuardedTransport(self.conf.broker_producer, self)

    def FlowControlQueue(  # noqa: N802 (Faust's name)
        self, maxsize: int | None = None, *, clear_on_resume: bool = False
    ) -> ThrowableQueue[Any]:
        return ReleasingQueue(
            maxsize=maxsize,
            flow_control=self.flow_control,
            clear_on_resume=clear_on_resume,
            app=self,
        )


async def rewind_stalled(app: faust.App, older_than: float = STALL_SECONDS) -> dict[TP, int]:
    """Seek every stalled partition back to its committed offset; returns them.

    Upstream: faust-streaming/faust#596 "A race condition in recovery causes
    unrecoverable gaps in acked offsets and consequently blocks committing"
    (open). Remove (with the timer in ``streams.app``) when a pinned release
    fixes #596 and the crash test passes without it."""
    consumer = app.consumer
    if not isinstance(consumer, GaplessConsumer):
        return {}
    stalled = consumer.stalled_since(older_than)
    for tp, committed in stalled.items():
        log.warning(
            "%s[%d]: offset %d was never acked while later ones were seen; "
            "re-reading the partition from it",
            tp.topic,
            tp.partition,
            committed,
        )
        await consumer.rewind(tp, committed)
        consumer.stalled.pop(tp, None)
    return stalled


class InOrder:
    """Lets a stage handle each partition's records in offset order, each once
    per generation, whatever Faust drops or delivers twice.

    Decisions such as near-duplicate merging depend on the order of reports, so
    a record Faust skipped must not be handled after the records behind it.
    Per partition the gate expects the next offset — at first the one the
    partition continues from after the latest rebalance — and:

    * lets the expected record through;
    * acks a record it has already let through (fetched again after a seek);
    * for a record beyond the expected one (a hole), acks it without counting
      the ack and has the partition re-read from the expected offset (see
      :meth:`GaplessConsumer.rewind`), so the missing record and everything
      behind it arrive again, in order;
    * acks a record fetched before the latest rebalance without counting it
      (it is fetched again from the committed offset).

    Upstream: the holes come from faust-streaming/faust#596 (open); order after
    a rebalance was faust#221 (closed by PR #223, which skips such records
    rather than re-reading them). Remove with :func:`rewind_stalled`.
    """

    def __init__(self, app: AppT) -> None:
        self.app = app
        self.generation: int | None = None
        self.expected: dict[TP, int] = {}
        self.sought: dict[TP, tuple[int, float]] = {}  # offset, when
        self.rewinds = 0

    async def admit(self, stream: faust.StreamT[Any], events: list[Any]) -> list[Any]:
        consumer: Any = self.app.consumer
        guarded = isinstance(consumer, GaplessConsumer)
        generation = self.app.consumer_generation_id
        if generation != self.generation:
            self.generation = generation
            self.expected.clear()
            self.sought.clear()
        admitted = []
        for event in events:
            message = event.message
            tp, offset = message.tp, message.offset
            fetched_in = getattr(message, "generation_id", None)
            if fetched_in is not None and fetched_in != generation:
                if guarded:
                    consumer.uncount(message)
                await stream.ack(event)
                continue
            expected = self.expected.get(tp)
            if expected is None:
                start = consumer.next_to_commit(tp) if guarded else None
                expected = offset if start is None else start
            if offset == expected:
                admitted.append(event)
                self.expected[tp] = offset + 1
            elif offset < expected:
                await stream.ack(event)
            else:
                if guarded:
                    consumer.uncount(message)
                await stream.ack(event)
                sought, when = self.sought.get(tp, (None, 0.0))
                now = time.monotonic()
                # Once per hole — again if the partition still skips it a while later.
                if sought != expected or now - when > STALL_SECONDS / 2:
                    self.sought[tp] = (expected, now)
                    self.rewinds += 1
                    log.warning(
                        "%s[%d]: offset %d arrived before %d; re-reading from %d",
                        tp.topic,
                        tp.partition,
                        offset,
                        expected,
                        expected,
                    )
                    if guarded:
                        await consumer.rewind(tp, expected)
                    else:
                        await consumer.seek(tp, expected)
        return admitted


def kafka_producer(app: faust.App) -> Any:
    """The Kafka client (``aiokafka.AIOKafkaProducer``) under the app's producer,
    once it runs: stages that send a batch themselves use it directly (a send is
    a third of the CPU of Faust's ``Topic.send``) and await that batch's futures."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]
