"""The gateway's Kafka followers on the real broker: one consumer per process on
every partition from the end (command results, case-event feed)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from gateway.feed import KafkaCaseFeed
from gateway.results import KafkaCommandResults
from gateway.tail import TopicTail, TopicTailError
from schemas.cases import CaseState, CommandResult
from schemas.topics import TopicNames
from streams.codecs import encode_case_event
from tests.support.cases import CaseStory, make_report

pytestmark = pytest.mark.kafka


def result(n: int, case_id: str) -> CommandResult:
    return CommandResult(
        command_id=f"cmd-{n}",
        case_id=case_id,
        accepted=True,
        rule="applied",
        state=CaseState.DISPATCHED,
        version=n,
    )


async def test_results_from_every_partition_after_start_only(
    kafka_bootstrap: str, kafka_topics: TopicNames
) -> None:
    topic = kafka_topics.command_results
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    results = KafkaCommandResults(kafka_bootstrap, topic)
    try:
        before = result(0, "110105001001-old")
        await producer.send_and_wait(topic, before.model_dump_json().encode(), partition=0)
        await results.start()
        waiting = {n: results.expect(f"cmd-{n}") for n in range(1, 9)}
        for n in range(1, 9):  # keyed by case id like the agent: spread over partitions
            answer = result(n, f"1101050010{n:02d}-case")
            await producer.send_and_wait(
                topic, answer.model_dump_json().encode(), key=answer.case_id.encode()
            )
        await producer.send_and_wait(topic, b"not json", partition=1)  # skipped
        async with asyncio.timeout(20):
            got = {n: await future for n, future in waiting.items()}
        assert all(got[n].version == n for n in got)
        assert results.waiting == 0
        assert results.recent("cmd-0") is None  # published before the follower started
        assert results.recent("cmd-5") == got[5]
    finally:
        await results.stop()
        await producer.stop()


async def test_case_feed_numbers_events_in_arrival_order(
    kafka_bootstrap: str, kafka_topics: TopicNames
) -> None:
    topic = kafka_topics.case_events
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    feed = KafkaCaseFeed(kafka_bootstrap, topic, buffer=100)
    try:
        await feed.start()
        sub = feed.subscribe(lambda item: True)
        stories = []
        for n in range(4):
            s = CaseStory.open(f"11010500{n}001-c", report=make_report(f"r-{n}"))
            s.dispatch("chengguan")
            stories.append(s)
        for s in stories:
            for event in s.events:
                value, headers = encode_case_event(event)
                await producer.send_and_wait(
                    topic, value, key=event.case_id.encode(), headers=headers
                )
        async with asyncio.timeout(20):
            items = [await sub.queue.get() for _ in range(8)]
        assert [i.seq for i in items] == list(range(1, 9))
        assert {i.case_id for i in items} == {s.case.id for s in stories}
        for s in stories:  # per case (one partition), in version order
            mine = [i for i in items if i.case_id == s.case.id]
            assert [b'"version":1' in mine[0].payload, b'"version":2' in mine[1].payload] == [
                True,
                True,
            ]
    finally:
        await feed.stop()
        await producer.stop()


async def test_missing_topic_is_a_clear_error(kafka_bootstrap: str, topic_prefix: str) -> None:
    tail = TopicTail(
        kafka_bootstrap,
        f"{topic_prefix}no-such-topic",
        lambda *record: None,
        client_id="test",
        metadata_timeout=1.0,
    )
    with pytest.raises(TopicTailError, match="does not exist"):
        await tail.start()
    assert not tail.running
