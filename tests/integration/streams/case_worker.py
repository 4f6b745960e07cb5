"""A Faust worker with only the case agent (and, given webhooks, the webhook agent),
for the integration tests of what the case agent raises — hotspot alerts, P1
alerts and notifications — without the intake stage or a database projection
(``gridhub worker`` runs every stage).

Run as ``python -m tests.integration.streams.case_worker`` with the usual
``GRIDHUB_*`` environment; with ``GRIDHUB_TEST_WEBHOOKS`` (JSON: recipient pattern
→ URL) and ``GRIDHUB_TEST_WEBHOOK_SECRET`` also the webhook agent, its outbox in
``GRIDHUB_DATABASE_URL``.
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
from streams.agents import case_agent, webhook_agent
from streams.app import build_app
from streams.config import NotificationPorts, StreamDeps
from streams.topics import stage_topics


def main() -> None:
    settings = Settings()
    config = stream_config(settings)
    notifications = None
    if "GRIDHUB_TEST_WEBHOOKS" in os.environ:
        upgrade(settings.db_url)
        hooks = WebhookConfig(
            subscriptions=json.loads(os.environ["GRIDHUB_TEST_WEBHOOKS"]),
            secret=os.environ["GRIDHUB_TEST_WEBHOOK_SECRET"],
            base_delay=0.2,
            max_delay=1.0,
        )
        notifications = NotificationPorts(Outbox(make_engine(settings.db_url)), hooks)
    deps = StreamDeps(
        district=load_district(settings), sink=InMemoryCaseSink(), notifications=notifications
    )
    app = build_app(config)
    # The tests SIGKILL a worker and start another: let the group notice in
    # seconds rather than after the session timeout.
    app.conf.broker_session_timeout = 6.0
    app.conf.broker_heartbeat_interval = 1.0
    topics = stage_topics(app, config)
    case_agent.register(app, topics, config, deps)
    if notifications is not None:
        webhook_agent.register(app, topics, config, deps)
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
