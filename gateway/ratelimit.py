"""Rate limits that limit (DESIGN.md §8), on the maintained ``limits`` library:

- per principal, by role (:data:`DEFAULT_LIMITS`: people 20 requests a second
  on average with bursts of 60 — a dashboard loads some 30 figures at once —
  systems more), once the token is verified;
- per client IP for anonymous reads (Open311, ``/public/`` and its API, a
  reporter's feedback link) and for failed sign-ins: an IP over its failed-auth
  budget gets 429 before its token is even looked up, so guessing tokens costs
  no database queries;
- an upload quota per principal and day (files and bytes);
- a cap on concurrent SSE streams per principal (:class:`StreamSlots`).

Every refusal is a 429 with ``Retry-After`` (whole seconds until the window
lets the next request through).

**Several processes, one host.** Limits are counted in ``storage`` (a ``limits``
storage URI). With the default ``memory://`` each gateway process counts on its
own, so each enforces its ``share`` of every limit (the limit divided by the
number of gateway processes on the host, at least 1): the host as a whole never
lets more through than the limit, and a client on one keep-alive connection
(one process) gets its share. A storage the processes share (``redis://...``,
``memcached://...``; the client library must be installed) counts exactly,
across processes and hosts: then leave ``share`` at 1.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from limits import RateLimitItem, RateLimitItemPerDay, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

ANONYMOUS = "anonymous"  # per client IP: reads that need no token
FAILED_AUTH = "failed_auth"  # per client IP: missing, invalid or revoked tokens
UPLOAD_FILES = "upload_files"  # per principal and day
UPLOAD_BYTES = "upload_bytes"

# Per role (per principal), and per IP for the two anonymous budgets.
DEFAULT_LIMITS: Mapping[str, str] = {
    "grid_worker": "60/3 seconds;600/minute",
    "operator": "60/3 seconds;1200/minute",
    "department": "60/3 seconds;1200/minute",
    "leader": "60/3 seconds;1200/minute",
    "admin": "60/3 seconds;1200/minute",
    "system": "200/second;6000/minute",
    # A visit to /public/ is the page and four reads at once, a language switch
    # four more: bursts of 20, but no paging through history (120 a minute).
    ANONYMOUS: "20/2 seconds;120/minute",
    FAILED_AUTH: "10/minute;100/hour",
}
DEFAULT_UPLOAD_FILES_PER_DAY = 200
DEFAULT_UPLOAD_BYTES_PER_DAY = 500 * 1024 * 1024
DEFAULT_SSE_STREAMS = 5


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def _shared(item: RateLimitItem, share: int) -> RateLimitItem:
    return type(item)(max(1, item.amount // share), item.multiples, item.namespace)


@dataclass(frozen=True)
class LimitPolicy:
    """The limits by key (role, :data:`ANONYMOUS`, :data:`FAILED_AUTH`) as
    ``limits`` strings (``"20/second;600/minute"``), over :data:`DEFAULT_LIMITS`,
    plus the upload quota and the SSE cap."""

    limits: Mapping[str, str] = field(default_factory=dict)
    upload_files_per_day: int = DEFAULT_UPLOAD_FILES_PER_DAY
    upload_bytes_per_day: int = DEFAULT_UPLOAD_BYTES_PER_DAY
    sse_streams: int = DEFAULT_SSE_STREAMS

    def strings(self) -> dict[str, str]:
        return {**DEFAULT_LIMITS, **self.limits}


class SteadyMemoryStorage(MemoryStorage):
    """``limits``' in-process storage, its expired windows swept by one long-lived
    thread.

    Upstream (5.8.0) starts a new 10 ms ``threading.Timer`` on every hit that finds
    the previous one finished: about a hundred thread starts a second per process
    under load, and each ``Thread.start`` blocks the event loop until the new thread
    runs. With the workers busy on the same two cores, the gateway's loop lagged
    ~90 ms and single-report POSTs took seconds (gateway alone: 9 ms). Windows are
    checked against the clock when counted; the sweep only frees memory, so once a
    second is enough. Overrides the name-mangled ``__schedule_expiry``: re-check on
    every upgrade of the pinned ``limits``."""

    SWEEP_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        threading.Thread(
            target=_sweep, args=(weakref.ref(self),), name="rate-limit-sweep", daemon=True
        ).start()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - upstream's (mangled) name
        """Nothing per hit: :func:`_sweep` expires."""


def _sweep(ref: weakref.ref[SteadyMemoryStorage]) -> None:
    """Expire windows once a second while the storage lives (the thread holds no
    reference between sweeps, so a dropped storage ends its thread)."""
    while True:
        time.sleep(SteadyMemoryStorage.SWEEP_SECONDS)
        storage = ref()
        if storage is None:
            return
        storage._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        del storage


def rate_limit_storage(uri: str) -> Storage:
    """The storage of a ``limits`` URI; ``memory://`` is :class:`SteadyMemoryStorage`."""
    if uri.rstrip("/") == "memory:":
        return SteadyMemoryStorage()
    storage = storage_from_string(uri)
    if not isinstance(storage, Storage):  # an async:// URI: this limiter counts synchronously
        raise ValueError(f"rate limit storage {uri!r} is asynchronous; use a synchronous one")
    return storage


class RateLimits:
    """The limits of :class:`LimitPolicy` counted in ``storage``; see the module doc."""

    def __init__(
        self, policy: LimitPolicy | None = None, storage: str = "memory://", share: int = 1
    ) -> None:
        if share < 1:
            raise ValueError("share must be at least 1")
        self.policy = policy or LimitPolicy()
        self.share = share
        self._limiter = MovingWindowRateLimiter(rate_limit_storage(storage))
        self._items: dict[str, list[RateLimitItem]] = {}
        for key, text in self.policy.strings().items():
            try:
                self._items[key] = [_shared(item, share) for item in parse_many(text)]
            except ValueError as exc:
                raise ValueError(
                    f"rate limit for {key!r}: {text!r} is not a limit ({exc})"
                ) from exc
        self._items[UPLOAD_FILES] = [
            _shared(RateLimitItemPerDay(self.policy.upload_files_per_day), share)
        ]
        self._items[UPLOAD_BYTES] = [
            _shared(RateLimitItemPerDay(self.policy.upload_bytes_per_day), share)
        ]
        self.streams = StreamSlots(max(1, self.policy.sse_streams // share))

    def describe(self, key: str) -> str:
        return "; ".join(str(item) for item in self._items.get(key, ()))

    def hit(self, key: str, who: str, cost: int = 1) -> float:
        """Count a request of ``who`` under the limits of ``key``: 0.0 when allowed,
        else the seconds until one would be (nothing is counted then)."""
        items = self._items.get(key, ())
        for item in items:
            if not self._limiter.test(item, key, who, cost=cost):
                return self._wait(item, key, who)
        for item in items:
            if not self._limiter.hit(item, key, who, cost=cost):
                return self._wait(item, key, who)
        return 0.0

    def test(self, key: str, who: str) -> float:
        """Like :meth:`hit`, counting nothing."""
        for item in self._items.get(key, ()):
            if not self._limiter.test(item, key, who):
                return self._wait(item, key, who)
        return 0.0

    def _wait(self, item: RateLimitItem, key: str, who: str) -> float:
        reset, _ = self._limiter.get_window_stats(item, key, who)
        return max(1.0, reset - time.time())


class StreamSlots:
    """At most ``limit`` concurrent holders per key (open SSE streams per principal)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> bool:
        with self._lock:
            if self._held[key] >= self.limit:
                return False
            self._held[key] += 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._held[key] -= 1
            if self._held[key] <= 0:
                del self._held[key]

    def held(self, key: str) -> int:
        with self._lock:
            return self._held[key]
