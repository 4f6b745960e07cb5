"""Shared fixtures: the real Kafka broker and PostgreSQL server, each started once per session."""

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres"]
