"""Shared fixtures: the real Kafka broker and PostgreSQL server, each started once
per session, and helpers that run real worker/gateway processes against them."""

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres", "tests.fixtures.worker"]
