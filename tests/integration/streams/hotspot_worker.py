"""A Faust worker with only the hotspot agent, for the integration test: the
alerts it raises are then the hotspot agent's alone (``gridhub worker`` runs
every stage, this agent among them).

Run as ``python -m tests.integration.streams.hotspot_worker`` with the usual
``GRIDHUB_*`` environment (bootstrap, topic prefix, app id, home, web port).
"""

from __future__ import annotations

import faust

from gridhub.bootstrap import load_district, stream_config
from gridhub.settings import Settings
from sinks.ports import InMemoryCaseSink
from streams.agents import hotspot_agent
from streams.app import build_app
from streams.config import StreamDeps
from streams.topics import stage_topics


def main() -> None:
    settings = Settings()
    config = stream_config(settings)
    deps = StreamDeps(district=load_district(settings), sink=InMemoryCaseSink())
    app = build_app(config)
    # The test SIGKILLs a worker and starts another: let the group notice in
    # seconds rather than after the default 60 s session timeout.
    app.conf.broker_session_timeout = 6.0
    app.conf.broker_heartbeat_interval = 1.0
    hotspot_agent.register(app, stage_topics(app, config), config, deps)
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
