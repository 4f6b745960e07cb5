"""tests/security: each test performs an attack the security review made
(../shared/reviews/security-2026-12.md) and asserts that it now fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.security import Attacked, attacked


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Attacked]:
    target = attacked(tmp_path)
    yield target
    target.engine.dispose()


@pytest.fixture
def client(hub: Attacked) -> Iterator[TestClient]:
    with TestClient(hub.app) as test_client:
        yield test_client
