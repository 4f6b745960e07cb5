"""The Faust topic handles of every stage, made once per app from the topic names.

Values and keys are raw bytes: every stage does its own codecs
(:mod:`streams.codecs`). The agents take a :class:`StageTopics` from
``register_agents``; none of them builds topics of its own, except the case
agent's one stream over reports and commands together.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.config import StreamConfig


@dataclass(frozen=True)
class StageTopics:
    """Faust topic handles; values are raw bytes, we do our own codecs."""

    intake: faust.TopicT
    intake_dlq: faust.TopicT
    reports: faust.TopicT
    case_commands: faust.TopicT
    case_events: faust.TopicT
    alerts: faust.TopicT
    notifications: faust.TopicT
    command_results: faust.TopicT

    def by_name(self) -> dict[str, faust.TopicT]:
        return {topic.get_topic_name(): topic for topic in vars(self).values()}


def raw_topic(app: faust.App, name: str, config: StreamConfig) -> faust.TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=config.partitions,
        replicas=config.replication,
    )


def stage_topics(app: faust.App, config: StreamConfig) -> StageTopics:
    names = config.topics
    return StageTopics(
        intake=raw_topic(app, names.intake, config),
        intake_dlq=raw_topic(app, names.intake_dlq, config),
        reports=raw_topic(app, names.reports, config),
        case_commands=raw_topic(app, names.case_commands, config),
        case_events=raw_topic(app, names.case_events, config),
        alerts=raw_topic(app, names.alerts, config),
        notifications=raw_topic(app, names.notifications, config),
        command_results=raw_topic(app, names.command_results, config),
    )
