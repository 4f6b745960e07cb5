from __future__ import annotations

from pathlib import Path

import pytest

from routing.hotspots import HotspotRule, Thresholds, default_path, duration_text


@pytest.fixture(scope="module")
def rule() -> HotspotRule:
    return HotspotRule.load()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotspots.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_rule_has_the_documented_defaults(rule: HotspotRule) -> None:
    assert default_path().name == "hotspots.yaml"
    assert rule.window_seconds == 3600
    assert rule.baseline_windows == 24
    assert rule.defaults == Thresholds(min_count=5, factor=3.0, min_baseline=0.5)
    assert rule.thresholds("gas_smell").min_count == 3
    assert rule.thresholds("gas_smell").factor == 3.0  # unset fields fall back to the defaults
    assert rule.thresholds("noise").factor == 4.0
    assert rule.thresholds("other").enabled is False
    assert rule.thresholds("garbage") == rule.defaults


def test_quiet_grid_with_a_burst_is_a_hotspot_with_a_human_reason(rule: HotspotRule) -> None:
    verdict = rule.evaluate(8, [0] * 23 + [1], "garbage")
    assert verdict is not None
    assert verdict.required == 5  # min_count wins over 3 × floor 0.5
    assert verdict.reason == (
        "hotspot: 8 reports of garbage in 1 h vs baseline 0.04/h (floor 0.5/h, ×16)"
    )


def test_reason_against_a_baseline_above_the_floor(rule: HotspotRule) -> None:
    verdict = rule.evaluate(8, [2] * 24, "garbage")
    assert verdict is not None
    assert verdict.required == 6
    assert verdict.reason == "hotspot: 8 reports of garbage in 1 h vs baseline 2/h (×4)"


def test_reason_rounds_a_fractional_baseline(rule: HotspotRule) -> None:
    verdict = rule.evaluate(8, [1] * 10 + [0] * 14, "garbage")  # 10 in 24 h
    assert verdict is not None
    assert verdict.reason == (
        "hotspot: 8 reports of garbage in 1 h vs baseline 0.42/h (floor 0.5/h, ×16)"
    )


def test_min_count_is_the_floor(rule: HotspotRule) -> None:
    assert rule.evaluate(4, [], "garbage") is None
    assert rule.evaluate(5, [], "garbage") is not None
    assert rule.evaluate(2, [], "gas_smell") is None
    assert rule.evaluate(3, [], "gas_smell") is not None


def test_steady_high_traffic_is_not_a_hotspot(rule: HotspotRule) -> None:
    busy = [10] * 24  # a market street: 10 an hour all day
    assert rule.required(busy, "garbage") == 30
    assert rule.evaluate(25, busy, "garbage") is None
    verdict = rule.evaluate(30, busy, "garbage")
    assert verdict is not None
    assert verdict.reason == "hotspot: 30 reports of garbage in 1 h vs baseline 10/h (×3)"
    assert verdict.ratio == 3.0


def test_factor_times_a_fractional_baseline_has_no_float_noise(tmp_path: Path) -> None:
    rule = HotspotRule.load(write(tmp_path, "min_count: 1\nmin_baseline: 0\nbaseline_windows: 5\n"))
    baseline = [1, 0, 1, 0, 0]  # 0.4 per window; 3 × 0.4 = 1.2000000000000002
    assert rule.required(baseline) == 2
    assert rule.evaluate(1, baseline) is None
    verdict = rule.evaluate(2, baseline)
    assert verdict is not None
    assert verdict.reason == "hotspot: 2 reports in 1 h vs baseline 0.4/h (×5)"


def test_baseline_is_the_mean_of_the_last_windows_or_of_the_history_there_is(
    tmp_path: Path,
) -> None:
    rule = HotspotRule.load(write(tmp_path, "baseline_windows: 4\n"))
    assert rule.baseline([100, 100, 4, 0, 8, 4]) == 4
    assert rule.baseline([3, 5]) == 4  # a young grid × category: two windows of history
    assert rule.baseline([]) == 0  # none at all: quiet


def test_disabled_category_never_alerts(rule: HotspotRule) -> None:
    assert rule.evaluate(500, [], "other") is None


def test_other_window_sizes_read_naturally(tmp_path: Path) -> None:
    rule = HotspotRule.load(write(tmp_path, "window_seconds: 1800\n"))
    verdict = rule.evaluate(6, [], "noise")
    assert verdict is not None
    assert verdict.reason == (
        "hotspot: 6 reports of noise in 30 min vs baseline 0/30 min (floor 0.5/30 min, ×12)"
    )
    assert [duration_text(s) for s in (3600, 7200, 1800, 90)] == ["1 h", "2 h", "30 min", "90 s"]


def test_category_override_inherits_file_defaults(tmp_path: Path) -> None:
    rule = HotspotRule.load(
        write(tmp_path, "min_count: 7\nfactor: 2.5\ncategories:\n  garbage:\n    factor: 5\n")
    )
    assert rule.thresholds("garbage") == Thresholds(min_count=7, factor=5.0, min_baseline=0.5)
    assert rule.thresholds("noise") == Thresholds(min_count=7, factor=2.5, min_baseline=0.5)


def test_an_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert HotspotRule.load(write(tmp_path, "")) == HotspotRule()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("window_seconds: 30\n", "`window_seconds` must be an integer >= 60"),
        ("window_seconds: 1h\n", "`window_seconds` must be an integer >= 60"),
        ("baseline_windows: 0\n", "`baseline_windows` must be an integer >= 1"),
        ("baseline_windows: 10000\n", "`baseline_windows` must be at most 336"),
        ("min_count: 0\n", "`min_count` must be an integer >= 1"),
        ("factor: 1\n", "`factor` must be greater than 1"),
        ("factor: -2\n", "`factor` must be a positive number"),
        ("min_baseline: -1\n", "`min_baseline` must be a number >= 0"),
        ("min_cuont: 3\n", "unknown key(s) min_cuont"),
        ("categories: [garbage]\n", "`categories` must be a mapping"),
        ("categories:\n  garbage: 3\n", "categories.garbage: must be a mapping"),
        ("categories:\n  garbage:\n    enabled: nope\n", "`enabled` must be true or false"),
        ("categories:\n  garbage:\n    window_seconds: 60\n", "unknown key(s) window_seconds"),
        ("- a list\n", "the top level must be a mapping"),
    ],
)
def test_bad_files_are_refused_with_the_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=r"hotspots\.yaml") as info:
        HotspotRule.load(path)
    assert message in str(info.value)
