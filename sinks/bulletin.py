"""The printable monthly bulletin (公开月报) of ``/public/``: the public figures
of :mod:`sinks.public` as a PDF, laid out by the brief's own document builder
(:func:`sinks.brief_files.pdf_document`, ReportLab's built-in CJK font).

It takes the public figures already computed, so it can show nothing the public
JSON does not: codes become names, rates percentages; no free text goes in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.periods import Period
from sinks.brief_files import pdf_document
from sinks.briefs import BriefNames, _cell, _Table

_CARD_COLUMNS = (
    ("due", "应结案数"),
    ("closed", "结案数"),
    ("closed_on_time", "按期结案数"),
    ("on_time_rate", "按期结案率"),
    ("closure_rate", "结案率"),
    ("rework_rate", "返工率"),
    ("mean_satisfaction", "满意度"),
)


def _trend(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    arrow = "↑" if value > 0 else "↓" if value < 0 else "→"
    return f"{arrow}{abs(value) * 100:.1f}"


def _cards(title: str, who: str, cards: list[dict[str, Any]], names: Mapping[str, str]) -> _Table:
    header = ("名次", who, *(label for _, label in _CARD_COLUMNS), "较上期（按期结案率）")
    rows = tuple(
        (
            str(card["rank"]),
            names.get(card["key"], card["key"]),
            *(_cell(key, card.get(key)) for key, _ in _CARD_COLUMNS),
            _trend(card.get("trend")),
        )
        for card in cards
    )
    return _Table(title, header, rows)


def _counts(title: str, who: str, counts: Mapping[str, int], names: Mapping[str, str]) -> _Table:
    rows = tuple((names.get(code, code), str(n)) for code, n in counts.items())
    return _Table(title, (who, "案件数"), rows)


def render_bulletin(
    period: Period,
    scorecards: Mapping[str, Any],
    counts: Mapping[str, Any],
    stories: list[dict[str, Any]],
    names: BriefNames,
) -> bytes:
    """The bulletin of ``period`` as PDF bytes."""
    title = f"社会治理信息公开月报 {period.label}"
    subtitle = (
        f"统计期 {period.first_day.isoformat()} 至 {period.days()[-1].isoformat()}"
        f"（{period.tz}）· 案件 {counts.get('total', 0)} 件 · 不含个人信息"
    )
    story_rows = tuple(
        (
            names.categories.get(s["category"], s["category"]),
            names.streets.get(s["street_code"], s["street_code"]),
            s["opened"],
            s["closed"] or "—",
        )
        for s in stories
    )
    by_day = counts["by_day"].items()
    tables = [
        _cards("部门考核排名", "部门", scorecards["departments"], names.departments),
        _cards("街道考核排名", "街道", scorecards["streets"], names.streets),
        _counts("按类别", "类别", counts["by_category"], names.categories),
        _counts("按街道", "街道", counts["by_street"], names.streets),
        _Table("每日立案数", ("日期", "案件数"), tuple((d, str(n)) for d, n in by_day)),
        _Table("已结案件", ("类别", "街道", "立案日期", "结案日期"), story_rows),
    ]
    return pdf_document(title, subtitle, tables)
