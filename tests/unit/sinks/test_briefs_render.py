"""Rendering the daily brief: every piece of data is escaped (HTML and Markdown)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sinks.assessment import DEPARTMENT_LABELS, GRID_WORKER_LABELS
from sinks.briefs import (
    Breakdown,
    Brief,
    HotspotLine,
    Line,
    md_escape,
    render_html,
    render_markdown,
)

EVIL = '<script>alert("x")</script> | **bold** [link](http://evil) & more'
AT = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


def brief(hotspots=True) -> Brief:
    lines = (Line("cat<1>", EVIL, 3), Line("garbage", "垃圾", 1))
    part = Breakdown(total=4, by_category=lines, by_street=(Line("s1", f"街道 {EVIL}", 4),))
    return Brief(
        day=date(2026, 11, 26),
        tz="Asia/Shanghai",
        start=AT,
        end=AT,
        generated_at=AT,
        new=part,
        closed=Breakdown(0, (), ()),
        overdue=part,
        supervision={
            "sla_warnings": 2,
            "overdue": 1,
            "escalations_150": 0,
            "manual_escalations": 0,
        },
        hotspots=(
            (HotspotLine("h1", AT, "110105001001001", "garbage", EVIL, 7, EVIL),)
            if hotspots
            else None
        ),
        departments=(
            {
                "department": "d1",
                "department_name": EVIL,
                "dispatched": 4,
                "returned": 0,
                "due": 3,
                "closed_on_time": 2,
                "closed": 2,
                "reworked_closed": 1,
                "on_time_rate": 0.6667,
                "closure_rate": 0.5,
                "rework_rate": 0.5,
                "resolved": 2,
                "mean_handling_hours": 3.25,
                "ratings": 0,
                "mean_satisfaction": None,
                "deferred": 1,
                "tasks_due": 3,
                "task_on_time_rate": 0.6667,
                "extension_rate": 0.3333,
                "labels": DEPARTMENT_LABELS,
            },
        ),
        grid_workers=(
            {
                "grid_worker": EVIL,
                "reports": 5,
                "verifications": 4,
                "verifications_passed": 3,
                "verification_pass_rate": 0.75,
                "labels": GRID_WORKER_LABELS,
            },
        ),
    )


def test_html_escapes_all_data():
    page = render_html(brief())
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "cat&lt;1&gt;" in page
    assert 'href="http://evil"' not in page
    # each place the text appears, escaped: new and overdue by category and by street,
    # the hotspot's category and title, the department, the grid worker
    assert page.count("&amp; more") == 8
    assert '<html lang="zh-CN">' in page
    assert '<meta charset="utf-8">' in page
    # the only tags are the page's own
    tags = set(re.findall(r"<\s*/?\s*([a-zA-Z0-9!]+)", page))
    assert tags <= {
        "!DOCTYPE",
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "p",
    } | {
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
    assert "66.7%" in page  # rates as percentages
    assert "3.25" in page


def test_markdown_escapes_all_data_and_keeps_tables_whole():
    text = render_markdown(brief())
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "\\*\\*bold\\*\\*" in text
    assert "\\[link\\](http://evil)" in text
    # a table row keeps its column count: the | inside data is escaped
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "街道" in ln]
    assert rows
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row)) == 4  # 3 columns
    assert "## 热点告警" in text
    assert "# 每日简报 2026-11-26" in text


def test_a_brief_without_hotspot_data_says_so():
    assert "本简报未获得热点告警数据" in render_markdown(brief(hotspots=False))
    assert "本简报未获得热点告警数据" in render_html(brief(hotspots=False))


def test_md_escape_is_one_line():
    assert md_escape("a\nb|c") == "a b\\|c"
    assert md_escape("<b>") == "&lt;b&gt;"


def test_the_department_table_has_the_deferred_denominator_and_the_extension_rate():
    text = render_markdown(brief())
    assert "缓办数" in text and "延期率" in text and "任务按期办结率" in text
    assert "33.3%" in text  # the extension rate, as a percentage
