"""Shared fixtures: the real Kafka broker and PostgreSQL server, each started once
per session, and helpers that run real worker/gateway processes against them."""

import os

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres", "tests.fixtures.worker"]

# The suite runs the hub in dev mode, and says so: outside dev, unsafe settings
# refuse to start, and in a container (CI's) GRIDHUB_ENV must be set at all.
# The processes the tests start inherit it.
os.environ.setdefault("GRIDHUB_ENV", "dev")
