"""The one back-off rule of every outbound sender (webhooks, notification
channels): ``base * 2**(attempts-1)`` seconds, capped, plus up to ``jitter`` of
it at random, so many failing deliveries do not retry in step."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempts: int,
    base: float,
    cap: float,
    jitter: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    delay = min(cap, base * 2.0 ** max(attempts - 1, 0))
    return delay * (1 + jitter * rand())
