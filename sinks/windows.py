"""The hotspot windows people can see (``GET /api/v1/stats/windows``, the chart on
``/reports/``): reports per window (one hour by default) per grid × category ×
source over the last hours, against the baseline the hotspot rule uses.

Counted from the ``reports`` projection by ``received_at`` — the same facts and
the same tumbling windows (aligned to the epoch) the worker's hotspot agent
counts — so no one needs the worker's own web server. The baseline and the count
that would raise an alert come from :class:`routing.hotspots.HotspotRule`, the
one rule the worker applies (passed in: sinks decide nothing): the mean of the
windows before (zeros included, from the first window with a report), floored
and multiplied as the rule says.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, Integer, cast, func, select

from sinks.models import reports


class WindowRule(Protocol):
    """``routing.hotspots.HotspotRule`` as the windows use it."""

    @property
    def window_seconds(self) -> int: ...
    @property
    def baseline_windows(self) -> int: ...
    def baseline(self, baseline_counts: Sequence[int]) -> float: ...
    def required(self, baseline_counts: Sequence[int], category: str | None = None) -> int: ...


MAX_HOURS = 24 * 7
MAX_KEYS = 50


def _bucket(engine: Engine, seconds: int) -> ColumnElement[Any]:
    """The window number of ``received_at`` (epoch seconds // window) in SQL."""
    if engine.dialect.name == "postgresql":
        epoch = func.extract("epoch", reports.c.received_at)
        return cast(func.floor(epoch / seconds), Integer)
    return cast(func.strftime("%s", reports.c.received_at), Integer) / seconds


def windows(
    engine: Engine,
    rule: WindowRule,
    *,
    hours: int = 24,
    now: datetime | None = None,
    grid_code: str | None = None,
    category: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The last ``hours`` windows (newest last) for the reports matching the
    filters, each with its count, baseline and the count that would alert, plus
    the busiest grid × category × source keys of that span."""
    size = rule.window_seconds
    now = now or datetime.now(UTC)
    current = int(now.timestamp()) // size
    shown = max(1, min(hours * 3600 // size, MAX_HOURS * 3600 // size))
    first_shown = current - shown + 1
    first_needed = first_shown - rule.baseline_windows
    bucket = _bucket(engine, size).label("bucket")
    conditions = [
        reports.c.received_at >= datetime.fromtimestamp(first_needed * size, UTC),
        reports.c.received_at < datetime.fromtimestamp((current + 1) * size, UTC),
    ]
    if grid_code:
        conditions.append(reports.c.grid_code == grid_code)
    if category:
        conditions.append(reports.c.category == category)
    if source:
        conditions.append(reports.c.source == source)
    query = (
        select(bucket, reports.c.grid_code, reports.c.category, reports.c.source, func.count())
        .where(*conditions)
        .group_by(bucket, reports.c.grid_code, reports.c.category, reports.c.source)
    )
    per_window: Counter[int] = Counter()
    keys: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    with engine.connect() as conn:
        for window, grid, cat, src, n in conn.execute(query):
            per_window[int(window)] += int(n)
            if int(window) >= first_shown:
                keys[(str(grid), str(cat), str(src))] += int(n)
    seen = sorted(w for w, n in per_window.items() if n)
    history_from = seen[0] if seen else current + 1
    points = []
    for window in range(first_shown, current + 1):
        before = [per_window[w] for w in range(max(first_needed, history_from), window)]
        points.append(
            {
                "start": datetime.fromtimestamp(window * size, UTC).isoformat(),
                "count": per_window[window],
                "baseline": round(rule.baseline(before), 3),
                "required": rule.required(before, category),
            }
        )
    top = sorted(keys.items(), key=lambda item: (-item[1], item[0]))[:MAX_KEYS]
    return {
        "window_seconds": size,
        "baseline_windows": rule.baseline_windows,
        "grid_code": grid_code,
        "category": category,
        "source": source,
        "windows": points,
        "keys": [{"grid_code": g, "category": c, "source": s, "count": n} for (g, c, s), n in top],
    }
