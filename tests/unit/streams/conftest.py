from __future__ import annotations

import pytest

from routing.district import District


@pytest.fixture(scope="session")
def district() -> District:
    return District.load()
