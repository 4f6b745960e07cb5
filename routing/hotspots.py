"""Hotspot rule (DESIGN.md §2 Analyse), kept as data in ``routing/data/hotspots.yaml``.

A grid × category window is a hotspot when its report count reaches

    max(min_count, factor × max(baseline, min_baseline))

where ``baseline`` is the mean count of the ``baseline_windows`` windows just
before it (windows without reports count as 0; while a grid × category has less
history than that, the windows since its first report). ``min_count`` keeps single
reports from ever alerting; ``min_baseline`` is a floor so that a usually quiet
grid still alerts on a burst (its baseline is ~0, and 3 × 0 would be reached by
any one report). Categories may override ``min_count``, ``factor`` and
``min_baseline``, or switch hotspots off (``enabled: false``).

Pure: the streams side counts and keeps the baseline; this module only decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routing import _loading as L

DEFAULT_WINDOW_SECONDS = 3600
DEFAULT_BASELINE_WINDOWS = 24
DEFAULT_MIN_COUNT = 5
DEFAULT_FACTOR = 3.0
DEFAULT_MIN_BASELINE = 0.5
MAX_BASELINE_WINDOWS = 24 * 14  # bounds the per-key state the worker keeps

_TOP_KEYS = {
    "synthetic",
    "window_seconds",
    "baseline_windows",
    "min_count",
    "factor",
    "min_baseline",
    "categories",
}
_THRESHOLD_KEYS = {"min_count", "factor", "min_baseline", "enabled"}
# Integers are compared exactly; this only absorbs float noise such as 3.0 × 0.4.
_EPSILON = 1e-9


def default_path() -> Path:
    """The packaged demo district's rule (``routing/data/hotspots.yaml``)."""
    return Path(__file__).resolve().parent / "data" / "hotspots.yaml"


@dataclass(frozen=True)
class Thresholds:
    """What a window of one category must reach, relative to its baseline."""

    min_count: int = DEFAULT_MIN_COUNT
    factor: float = DEFAULT_FACTOR
    min_baseline: float = DEFAULT_MIN_BASELINE
    enabled: bool = True


@dataclass(frozen=True)
class HotspotVerdict:
    """Why a window is a hotspot: the numbers and one human sentence."""

    category: str | None
    count: int
    baseline: float  # mean reports per window over the trailing windows
    required: int  # the count at which this window became a hotspot
    ratio: float  # count ÷ max(baseline, min_baseline)
    window_seconds: int
    reason: str


@dataclass(frozen=True)
class HotspotRule:
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    baseline_windows: int = DEFAULT_BASELINE_WINDOWS
    defaults: Thresholds = field(default_factory=Thresholds)
    categories: Mapping[str, Thresholds] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> HotspotRule:
        """Read the rule file (the packaged demo rule by default); ``ValueError``
        names the file and the entry that is wrong."""
        where = default_path() if path is None else Path(path)
        return cls.from_data(L.read_yaml(where), str(where))

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str) -> HotspotRule:
        _no_unknown_keys(data, _TOP_KEYS, where)
        defaults = _thresholds(data, Thresholds(), where)
        section = data.get("categories") or {}
        if not isinstance(section, Mapping):
            raise ValueError(
                f"{where}: `categories` must be a mapping of category code to settings"
            )
        categories: dict[str, Thresholds] = {}
        for code, entry in section.items():
            entry_where = f"{where}: categories.{code}"
            if not isinstance(entry, Mapping):
                raise ValueError(f"{entry_where}: must be a mapping")
            _no_unknown_keys(entry, _THRESHOLD_KEYS, entry_where)
            categories[str(code)] = _thresholds(entry, defaults, entry_where)
        window = _integer(data, "window_seconds", DEFAULT_WINDOW_SECONDS, 60, where)
        baseline_windows = _integer(
            data, "baseline_windows", DEFAULT_BASELINE_WINDOWS, 1, where, MAX_BASELINE_WINDOWS
        )
        return cls(window, baseline_windows, defaults, categories)

    def thresholds(self, category: str | None) -> Thresholds:
        if category is None:
            return self.defaults
        return self.categories.get(category, self.defaults)

    def baseline(self, baseline_counts: Sequence[int]) -> float:
        """Mean count per window of the windows before the one judged, oldest
        first: the last ``baseline_windows`` of them, or as many as there is
        history for. No history at all is a baseline of 0 (a quiet grid)."""
        recent = list(baseline_counts)[-self.baseline_windows :]
        return sum(recent) / len(recent) if recent else 0.0

    def required(self, baseline_counts: Sequence[int], category: str | None = None) -> int:
        """The count at which a window with this trailing history is a hotspot."""
        limits = self.thresholds(category)
        floor = max(self.baseline(baseline_counts), limits.min_baseline)
        return max(limits.min_count, math.ceil(limits.factor * floor - _EPSILON))

    def evaluate(
        self, count: int, baseline_counts: Sequence[int], category: str | None = None
    ) -> HotspotVerdict | None:
        """The verdict when a window holding ``count`` reports is a hotspot, else None."""
        limits = self.thresholds(category)
        if not limits.enabled:
            return None
        required = self.required(baseline_counts, category)
        if count < required:
            return None
        baseline = self.baseline(baseline_counts)
        ratio = count / max(baseline, limits.min_baseline)
        return HotspotVerdict(
            category=category,
            count=count,
            baseline=baseline,
            required=required,
            ratio=ratio,
            window_seconds=self.window_seconds,
            reason=self._reason(count, baseline, ratio, category, limits),
        )

    def _reason(
        self, count: int, baseline: float, ratio: float, category: str | None, limits: Thresholds
    ) -> str:
        what = f"{count} report{'' if count == 1 else 's'}"
        if category:
            what += f" of {category}"
        span = duration_text(self.window_seconds)
        per = "h" if self.window_seconds == 3600 else span
        if baseline < limits.min_baseline:
            against = (
                f"baseline {_number(baseline)}/{per} "
                f"(floor {_number(limits.min_baseline)}/{per}, ×{_number(ratio)})"
            )
        else:
            against = f"baseline {_number(baseline)}/{per} (×{_number(ratio)})"
        return f"hotspot: {what} in {span} vs {against}"


def duration_text(seconds: int) -> str:
    """``3600`` → ``1 h``, ``1800`` → ``30 min``, ``90`` → ``90 s``."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _number(value: float) -> str:
    """Short human number: 20, 2.5, 0.4, 0.04."""
    digits = 2 if abs(value) < 1 else 1
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"


def _no_unknown_keys(entry: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in entry if k not in known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _integer(
    entry: Mapping[str, Any],
    key: str,
    default: int,
    minimum: int,
    where: str,
    maximum: int | None = None,
) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: `{key}` must be an integer >= {minimum}, not {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{where}: `{key}` must be at most {maximum}, not {value!r}")
    return value


def _thresholds(entry: Mapping[str, Any], base: Thresholds, where: str) -> Thresholds:
    factor = L.number(entry, "factor", where, base.factor)
    if factor <= 1:
        raise ValueError(f"{where}: `factor` must be greater than 1, not {factor!r}")
    min_baseline = entry.get("min_baseline", base.min_baseline)
    if (
        isinstance(min_baseline, bool)
        or not isinstance(min_baseline, int | float)
        or min_baseline < 0
    ):
        raise ValueError(f"{where}: `min_baseline` must be a number >= 0, not {min_baseline!r}")
    enabled = entry.get("enabled", base.enabled)
    if not isinstance(enabled, bool):
        raise ValueError(f"{where}: `enabled` must be true or false, not {enabled!r}")
    return Thresholds(
        min_count=_integer(entry, "min_count", base.min_count, 1, where),
        factor=factor,
        min_baseline=float(min_baseline),
        enabled=enabled,
    )
