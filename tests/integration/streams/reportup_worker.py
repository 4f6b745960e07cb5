"""A Faust worker with only the report-up and webhook agents, for the integration
test (``gridhub worker`` runs them with every other stage).

Run as ``python -m tests.integration.streams.reportup_worker`` with the usual
``GRIDHUB_*`` environment plus ``GRIDHUB_TEST_WEBHOOKS`` (JSON: recipient pattern
→ URL) and ``GRIDHUB_TEST_WEBHOOK_SECRET``. The outbox is ``GRIDHUB_DATABASE_URL``.
"""

from __future__ import annotations

import json
import os

import faust

from gridhub.bootstrap import load_district, stream_config
from gridhub.settings import Settings
from sinks.db import make_engine, upgrade
from sinks.outbox import Outbox
from sinks.ports import InMemoryCaseSink
from sinks.webhooks import WebhookConfig
from streams.agents import reportup_agent, webhook_agent
from streams.app import build_app
from streams.config import NotificationPorts, StreamDeps
from streams.topics import stage_topics


def main() -> None:
    settings = Settings()
    config = stream_config(settings)
    upgrade(settings.db_url)
    hooks = WebhookConfig(
        subscriptions=json.loads(os.environ["GRIDHUB_TEST_WEBHOOKS"]),
        secret=os.environ["GRIDHUB_TEST_WEBHOOK_SECRET"],
        base_delay=0.2,
        max_delay=1.0,
    )
    deps = StreamDeps(
        district=load_district(settings),
        sink=InMemoryCaseSink(),
        notifications=NotificationPorts(Outbox(make_engine(settings.db_url)), hooks),
    )
    app = build_app(config)
    topics = stage_topics(app, config)
    reportup_agent.register(app, topics, config, deps)
    webhook_agent.register(app, topics, config, deps)
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
